/**
 * `deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys bench/queue_plans.ts
 * [--runs 7]`: the plan and the time of each statement of the queue (src/bulk/queue/) and of admission on a
 * realistic queue, the measurement their doc comments quote (docs/performance.md, "Queue statements").
 * Asserts nothing.
 * The queue (a fresh embedded database with the project's migrations, or DATABASE_URL, whose user must
 * be allowed to LOAD auto_explain):
 *   - A: a 1,000,000-item RUNNING operation, 500 jobs of 2,000 keys, of which the first 10 chunks are done
 *     (deleted), 4 claimed by two live workers, 2 held by a dead one (lease expired), 3 in a retry backoff;
 *   - B: a 1,000,000-item QUEUED operation: 500 jobs at run_at 'infinity' (what admission makes due);
 *   - 30 other RUNNING operations of 10 jobs each, 20 QUEUED ones of 5 jobs each, 10 SCHEDULED ones due;
 *   - a history of 10,000 finished operations of the same 32 users.
 * Each statement is the engine's own function, run in a transaction that is rolled back (so every run
 * sees the same queue), with auto_explain logging its plan with ANALYZE to this client; printed: the
 * median duration of `--runs` runs (after one warm-up) and the plan of the last.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import type pg from "pg";
import { loadConfig } from "../src/config.ts";
import { createDb, type Db } from "../src/db/database.ts";
import type { Tx } from "../src/bulk/action.ts";
import { admitQueued, queueDueScheduled } from "../src/bulk/queue/admit.ts";
import { claimJob } from "../src/bulk/queue/claim.ts";
import { extendLease } from "../src/bulk/queue/extend-lease.ts";
import { type Job, JOB_COLUMNS } from "../src/bulk/queue/job.ts";
import { makeJobsDue } from "../src/bulk/queue/make-due.ts";
import { msUntilNextDueJob } from "../src/bulk/queue/next-due.ts";
import { releaseJobs } from "../src/bulk/queue/release.ts";
import { rescueExpiredJobs } from "../src/bulk/queue/rescue.ts";
import { retryLater } from "../src/bulk/queue/retry-later.ts";
import { openBenchDatabase } from "./bench_db.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: { runs: { type: "string", default: "7" } },
});
const runs = Number(values.runs);

const CHUNK = 2_000;
const JOBS = 500;

/**
 * One operation per user in `status`, each with `jobs` jobs of CHUNK keys: runnable when RUNNING, else at
 * 'infinity' (waiting); a SCHEDULED one was due a minute ago.
 */
async function seedOperations(
  db: Db,
  args: { tenantId: string; users: string[]; status: string; jobs: number },
): Promise<string[]> {
  const running = args.status === "RUNNING";
  const runAt = running ? sql`now()` : sql`'infinity'::timestamptz`;
  const { rows } = await sql<{ id: string }>`
    WITH ops AS (
      INSERT INTO bulk_operations (tenant_id, created_by, action_type, target_summary, status, total, scheduled_at,
        started_at)
      SELECT ${args.tenantId}, u, 'SET_STATUS', '{"kind":"filter","filter":{}}', ${args.status},
        ${args.jobs * CHUNK}, ${args.status === "SCHEDULED" ? sql`now() - interval '1 minute'` : sql`NULL`},
        ${running ? sql`now()` : sql`NULL`}
      FROM unnest(${args.users}::uuid[]) AS u RETURNING id),
    jobs AS (
      INSERT INTO bulk_jobs (operation_id, chunk_index, first_position, last_position, run_at, target_ids)
      SELECT ops.id, c, c * ${CHUNK}, c * ${CHUNK} + ${CHUNK - 1}, ${runAt},
        ARRAY(SELECT g::int8 FROM generate_series(c * ${CHUNK} + 1, c * ${CHUNK} + ${CHUNK}) AS g)
      FROM ops, generate_series(0, ${args.jobs - 1}) AS c RETURNING 1)
    SELECT id FROM ops WHERE (SELECT count(*) FROM jobs) > 0`.execute(db);
  return rows.map((row) => row.id);
}

async function seed(db: Db) {
  const tenant = await db.insertInto("tenants").values({ name: "queue plans" }).returning("id")
    .executeTakeFirstOrThrow();
  const { rows: users } = await sql<{ id: string }>`
    INSERT INTO users (tenant_id, email, name, role)
    SELECT ${tenant.id}, 'u' || g || '@plans.test', 'u' || g, 'ADMIN' FROM generate_series(0, 31) AS g
    RETURNING id`.execute(db);
  const ids = users.map((u) => u.id);
  const seedAs = (users: string[], status: string, jobs: number) =>
    seedOperations(db, { tenantId: tenant.id, users, status, jobs });
  const [a] = await seedAs([ids[0]], "RUNNING", JOBS);
  const [b] = await seedAs([ids[1]], "QUEUED", JOBS);
  await seedAs(ids.slice(2), "RUNNING", 10);
  await seedAs(ids.slice(2, 22), "QUEUED", 5);
  await seedAs(ids.slice(22), "SCHEDULED", 5); // due a minute ago
  // The history: 10,000 finished operations of the same users (the admission statements read past them).
  await sql`INSERT INTO bulk_operations (tenant_id, created_by, action_type, target_summary, status, total,
      created_at, started_at, finished_at)
    SELECT ${tenant.id}, (${ids}::uuid[])[1 + g % 32], 'SET_STATUS', '{"kind":"ids","given":1}', 'COMPLETED', 0,
      now() - g * interval '1 minute', now() - g * interval '1 minute', now() - g * interval '1 minute'
    FROM generate_series(1, 10000) AS g`.execute(db);
  // A's progress: 10 chunks done, 4 claimed by live workers, 2 by a dead one, 3 backing off.
  await sql`DELETE FROM bulk_jobs WHERE operation_id = ${a} AND chunk_index < 10`.execute(db);
  const lock = (worker: string, chunks: string, until: string) =>
    sql`UPDATE bulk_jobs SET locked_by = ${worker}, locked_until = ${sql.raw(until)}, attempts = 1
      WHERE operation_id = ${a} AND chunk_index IN (${sql.raw(chunks)})`.execute(db);
  await lock("w1", "10, 11", "now() + interval '30 seconds'");
  await lock("w2", "12, 13", "now() + interval '30 seconds'");
  await lock("w-dead", "14, 15", "now() - interval '5 seconds'");
  await sql`UPDATE bulk_jobs SET run_at = now() + interval '5 seconds', attempts = 1
    WHERE operation_id = ${a} AND chunk_index IN (16, 17, 18)`.execute(db);
  await sql`VACUUM ANALYZE bulk_jobs`.execute(db);
  await sql`VACUUM ANALYZE bulk_operations`.execute(db);
  const held = await db.selectFrom("bulk_jobs").select(JOB_COLUMNS).where("operation_id", "=", a)
    .where("chunk_index", "=", 10).executeTakeFirstOrThrow();
  return { a, b, queuedUser: ids[1], scheduledUser: ids[22], held };
}

const ROLLED_BACK = new Error("rolled back");

interface Logged {
  ms: number;
  plan: string;
}

const config = loadConfig({ ...Deno.env.toObject(), NODE_ENV: "development" });
const database = await openBenchDatabase(config, "queue_plans");
const notices: string[] = [];
const db = createDb(database.url, {
  poolSize: 1,
  onPool: (pool) =>
    pool.on("connect", (client: pg.Client) => client.on("notice", (n) => notices.push(n.message ?? ""))),
});
try {
  const queue = await seed(db);
  const statements: [string, (tx: Tx, job: Job) => Promise<unknown>][] = [
    ["claim (queue/claim.ts)", (tx) => claimJob(tx, "w-bench", 30_000)],
    ["extend-lease", (tx, job) => extendLease(tx, job.id, "w1", 30_000)],
    ["retry-later", (tx, job) => retryLater(tx, job, "boom")],
    ["release (2 workers, 4 jobs)", (tx) => releaseJobs(tx, ["w1", "w2"])],
    ["rescue (2 expired of 6 held)", (tx) => rescueExpiredJobs(tx)],
    ["next-due", (tx) => msUntilNextDueJob(tx)],
    ["make-due (500 jobs of B)", (tx) => makeJobsDue(tx, [queue.b])],
    ["queue-due-scheduled", (tx) => queueDueScheduled(tx, queue.scheduledUser)],
    ["admit (1 QUEUED of its user)", (tx) => admitQueued(tx, queue.queuedUser, 2)],
  ];
  const total = await db.selectFrom("bulk_jobs").select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  console.log(`queue: ${total.n} jobs (A ${queue.a}, B ${queue.b}); ${runs} runs each; load ${Deno.loadavg()}`);
  for (const [name, run] of statements) {
    const logged: Logged[] = [];
    for (let i = 0; i <= runs; i++) {
      await sql`VACUUM bulk_jobs, bulk_operations`.execute(db); // no dead versions of the last run to read past
      notices.length = 0;
      await db.transaction().execute(async (tx) => {
        await sql`LOAD 'auto_explain'`.execute(tx);
        await sql`SET LOCAL auto_explain.log_min_duration = 0`.execute(tx);
        await sql`SET LOCAL auto_explain.log_analyze = on`.execute(tx);
        await sql`SET LOCAL auto_explain.log_buffers = on`.execute(tx);
        await sql`SET LOCAL client_min_messages = log`.execute(tx);
        await run(tx, { ...queue.held, locked_by: "w1" });
        throw ROLLED_BACK; // every run sees the same queue
      }).catch((error) => {
        if (error !== ROLLED_BACK) throw error;
      });
      const message = notices.find((n) => n.startsWith("duration:"));
      if (!message) throw new Error(`${name}: auto_explain logged no plan (notices: ${notices.join(" | ")})`);
      if (i > 0) logged.push({ ms: Number(/duration: ([\d.]+) ms/.exec(message)![1]), plan: message });
    }
    const sorted = logged.map((l) => l.ms).sort((x, y) => x - y);
    console.log(
      `\n## ${name}: median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} ms ` +
        `(min ${sorted[0].toFixed(3)}, max ${sorted.at(-1)!.toFixed(3)})`,
    );
    console.log(logged.at(-1)!.plan.replace(/^duration: [\d.]+ ms\s+plan:\n/, ""));
  }
} finally {
  await db.destroy();
  await database.stop();
}
