/**
 * The graphile-worker peers of bench/bulk_bench.ts (issue 18): what a user who writes a few lines on
 * npm graphile-worker gets for the bench's change (OPEN -> PENDING, version + 1, updated_at) on the same
 * tickets, with the same concurrency as the engine.
 *
 * - Enqueue: one job per `chunkSize` tickets. The tickets matching `status = OPEN` are cut, in id order,
 *   into ranges of exactly `chunkSize` ids by ONE index-only statement on tickets_status_idx (the filter
 *   frozen as ranges, as the engine freezes it as positions), then all jobs are added by one `addJobs`.
 * - Work: each job is ONE statement in its own transaction (graphile-worker runs a task outside any
 *   transaction; the statement autocommits), either
 *     (b) no ledger: `UPDATE tickets ... WHERE tenant_id AND status = 'OPEN' AND id BETWEEN first AND last`, or
 *     (c) ledger: one CTE `SELECT ... FOR UPDATE` -> `UPDATE ... RETURNING` -> `INSERT` of one row per
 *         item into bench_peer_ledger with the before/after image (the fields of src/tickets/actions/
 *         ticket-image.ts, same jsonb keys as the engine's ledger). This shape because it measured fastest
 *         of the shapes tried on this machine kind (29k items/s at 100k tickets, issue 18; another CTE
 *         shape was 5-10x slower).
 * - Timing: from the enqueue to the moment graphile-worker's own `jobs` view holds none of this run's jobs
 *   (so the queue's completion of the last job is inside the time, as the engine's job deletion is),
 *   polled every 20 ms like the engine's terminal state. The runner is started (and graphile-worker's
 *   schema migrated) before the clock starts, as the engine's pool is.
 * A job that throws aborts the run with its error (a retry would otherwise wait out graphile-worker's
 * back-off). The items changed are the statements' row counts (for (c), the ledger rows inserted), which
 * the bench compares with the tickets it seeded.
 */
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import type { JobHelpers } from "graphile-worker";
import type pg from "pg";

export interface PeerOptions {
  tenantId: string;
  /** (c) when true: write one ledger row per item in the same statement. */
  ledger: boolean;
  /** Jobs run at once (graphile-worker's `concurrency`): the engine's worker count. */
  concurrency: number;
  /** Tickets per job. */
  chunkSize: number;
}

export interface PeerResult {
  /** Tickets changed (sum of the jobs' row counts). */
  items: number;
  jobs: number;
  seconds: number;
}

/** The table the ledger peer writes into; created by the bench, not by the project's migrations. */
export const PEER_LEDGER_TABLE = "bench_peer_ledger";

interface ChunkPayload {
  tenantId: string;
  runId: string;
  firstId: string;
  lastId: string;
}

function isChunkPayload(payload: unknown): payload is ChunkPayload {
  if (typeof payload !== "object" || payload === null) return false;
  return ["tenantId", "runId", "firstId", "lastId"].every((key) => typeof Reflect.get(payload, key) === "string");
}

/** graphile-worker's log lines go to stderr (stdout is the bench's, and with --json a script's), warnings up. */
const stderrLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[graphile-worker] ${level}: ${message}`);
});

/** The ledger image of a tickets row under `alias`: the keys of ticketImage() in src/tickets/actions/ticket-image.ts. */
const image = (alias: string) =>
  `jsonb_build_object('status', ${alias}.status, 'priority', ${alias}.priority, 'category', ${alias}.category,
     'assigneeId', ${alias}.assignee_id, 'deletedAt', ${alias}.deleted_at, 'version', ${alias}.version)`;

const UPDATE_CHUNK = `
  UPDATE tickets SET status = 'PENDING', version = version + 1, updated_at = now()
  WHERE tenant_id = $1 AND status = 'OPEN' AND id BETWEEN $2 AND $3`;

const UPDATE_CHUNK_WITH_LEDGER = `
  WITH locked AS (
    SELECT id, status, priority, category, assignee_id, deleted_at, version FROM tickets
    WHERE tenant_id = $1 AND status = 'OPEN' AND id BETWEEN $2 AND $3
    ORDER BY id FOR UPDATE
  ), changed AS (
    UPDATE tickets t SET status = 'PENDING', version = t.version + 1, updated_at = now()
    FROM locked WHERE t.id = locked.id
    RETURNING t.id, t.status, t.priority, t.category, t.assignee_id, t.deleted_at, t.version
  )
  INSERT INTO ${PEER_LEDGER_TABLE} (run_id, ticket_id, before, after)
  SELECT $4, changed.id, ${image("locked")}, ${image("changed")}
  FROM changed JOIN locked ON locked.id = changed.id`;

/** Creates the ledger peer's table (once per database): keyed like the engine's ledger, one row per item. */
export async function createPeerLedger(pool: pg.Pool): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${PEER_LEDGER_TABLE} (
    run_id uuid NOT NULL,
    ticket_id bigint NOT NULL,
    before jsonb NOT NULL,
    after jsonb NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, ticket_id)
  )`);
}

/** Runs one peer over the tenant's OPEN tickets and returns what it changed and how long it took. */
export async function runGraphileWorkerPeer(pool: pg.Pool, options: PeerOptions): Promise<PeerResult> {
  const identifier = options.ledger ? "bench_set_status_ledger" : "bench_set_status";
  const statement = options.ledger ? UPDATE_CHUNK_WITH_LEDGER : UPDATE_CHUNK;
  const runId = crypto.randomUUID();
  let items = 0;
  let failure: unknown = null;
  const task = async (payload: unknown, helpers: JobHelpers) => {
    if (!isChunkPayload(payload)) throw new Error(`${identifier}: malformed payload ${JSON.stringify(payload)}`);
    const params = [payload.tenantId, payload.firstId, payload.lastId, ...(options.ledger ? [payload.runId] : [])];
    const result = await helpers.withPgClient((client) => client.query(statement, params));
    items += result.rowCount ?? 0;
  };

  const utils = await makeWorkerUtils({ pgPool: pool, logger: stderrLogger });
  await utils.migrate();
  const runner = await run({
    pgPool: pool,
    concurrency: options.concurrency,
    noHandleSignals: true,
    logger: stderrLogger,
    taskList: { [identifier]: task },
  });
  runner.events.on("job:error", ({ error }) => failure ??= error);
  try {
    const started = performance.now();
    const { rows: ranges } = await pool.query<{ first_id: string; last_id: string }>(
      `SELECT min(id)::text AS first_id, max(id)::text AS last_id
       FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / $2 AS chunk
             FROM tickets WHERE tenant_id = $1 AND status = 'OPEN') numbered
       GROUP BY chunk ORDER BY chunk`,
      [options.tenantId, options.chunkSize],
    );
    await utils.addJobs(ranges.map((range) => ({
      identifier,
      payload: { tenantId: options.tenantId, runId, firstId: range.first_id, lastId: range.last_id },
    })));
    for (;;) {
      if (failure) throw failure;
      const { rows } = await pool.query<{ left: number }>(
        "SELECT count(*)::int AS left FROM graphile_worker.jobs WHERE task_identifier = $1",
        [identifier],
      );
      if (rows[0].left === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { items, jobs: ranges.length, seconds: (performance.now() - started) / 1000 };
  } finally {
    await runner.stop();
    await utils.release();
  }
}
