/**
 * Retention: finished operations older than BULK_RETENTION_DAYS are deleted with their
 * items, events, notifications and jobs; expired previews too. Every pool runs it on a timer
 * of its own (RetentionLoop), never inside the maintenance tick: a large purge there held up
 * rescue and admission (a due scheduled operation waited for the whole purge) and outlived
 * the pool's stop.
 *
 * Bounded: a run works about RUN_BUDGET_MS (checked before each statement), then stops; an
 * operation it left half deleted is resumed by the process's next run, which comes
 * RETENTION_BACKLOG_PAUSE_MS later while a backlog remains, RETENTION_INTERVAL_MS otherwise.
 *
 * Never a long lock: each statement deletes at most `batchSize` rows of one finished
 * operation, in its own transaction. An operation's ledger goes first, one position range
 * [p, p + batchSize) at a time through the primary key, then its events in id order, then
 * its notification deliveries and events (their foreign keys cascade from the operation,
 * which would delete them all in the operation's own DELETE: usually NOTIFY_RETENTION_DAYS,
 * at most BULK_RETENTION_DAYS, pruned them already), then the row itself, whose ON DELETE
 * CASCADE then finds nothing left to delete. An operation with a notification delivery still
 * PENDING is not purged until it settles (delivered or given up).
 *
 * What is kept, deliberately:
 * - Lineage: an operation is deleted only once none of its retries or rollbacks remains
 *   (children end after their parent, so they age out first; a parent waits for its
 *   youngest child). `purge_started_at` is set before the ledger is touched, under the row
 *   lock that retry and rollback take on their parent, and they then treat the parent as
 *   gone: no new child can read a half-deleted ledger.
 * - Comments an ADD_COMMENT operation added stay, with that operation's id (migration 0006
 *   dropped the foreign key whose SET NULL would have dropped them out of the one comment per
 *   target per operation key).
 * - BULK_RETENTION_DAYS is at least the rollback window (config.ts), so nothing that can
 *   still be rolled back is deleted.
 */
import { type DeleteResult, type QueryResult, sql } from "kysely";
import type { Db } from "../db/database.ts";
import { pruneAuditEvents } from "../audit/retention.ts";
import { errorMessage } from "../guards.ts";

/** How often a process runs retention when the previous run finished its work. */
export const RETENTION_INTERVAL_MS = 60_000;

/**
 * The work time of one run. Each statement deletes at most one batch and holds the
 * maintenance connection only for itself, so a run ends within one statement of this.
 */
export const RUN_BUDGET_MS = 1000;

/** The pause between two runs while a backlog remains: retention uses at most about half of one connection. */
export const RETENTION_BACKLOG_PAUSE_MS = 1000;

/** The order in which an operation is deleted (see the module comment). */
const STEPS = ["items", "events", "deliveries", "notification events", "operation"] as const;

/** An operation being deleted. */
export interface PurgeTarget {
  id: string;
  total: number;
  /** The step a previous run stopped in (it continues there). */
  step?: typeof STEPS[number];
}

export interface RetentionOptions {
  retentionDays: number;
  /** The current time (injected so tests move it instead of waiting days). */
  now?: Date;
  /** Rows per statement. */
  batchSize?: number;
  /** Work time of the run (default RUN_BUDGET_MS); the first statement always runs, so every run makes progress. */
  budgetMs?: number;
  /** Once aborted, the run stops before its next statement (the pool is stopping). */
  signal?: AbortSignal;
  /** The operation a previous run left half deleted (its `unfinished`), to finish first. */
  resume?: PurgeTarget | null;
}

export interface RetentionResult {
  operations: number;
  items: number;
  events: number;
  /** Notification events and deliveries of the deleted operations. */
  notifications: number;
  previews: number;
  /** The run stopped at its budget (or was aborted) with work left. */
  backlog: boolean;
  /** The operation it left half deleted, if any: the next run's `resume`. */
  unfinished: PurgeTarget | null;
}

/**
 * The run's time budget. Only deletes spend it, and the first is always allowed, so every run
 * makes progress whatever the budget (a resumed operation continues at the step it stopped in).
 */
class Budget {
  #deadline: number;
  #used = false;

  constructor(ms: number, private readonly signal: AbortSignal | undefined) {
    this.#deadline = performance.now() + ms;
  }

  /** Time left (or nothing deleted yet). */
  left(): boolean {
    return !this.#used || (!this.signal?.aborted && performance.now() < this.#deadline);
  }

  /** May the run send another DELETE? */
  more(): boolean {
    const allowed = this.left();
    this.#used = true;
    return allowed;
  }
}

/**
 * Another process that started deleting an operation this long ago and did not finish has
 * died: take it over (every step is idempotent, so two purgers of one operation are harmless).
 */
const STALE_PURGE = "10 minutes";

const hasChild = (db: Db, operationId: string) =>
  db.selectFrom("bulk_operations").select("id").where("parent_id", "=", operationId).limit(1).executeTakeFirst();

/**
 * Marks the next expired operation for deletion and returns it. In one transaction:
 *   SELECT id, total FROM bulk_operations o WHERE finished_at < $cutoff AND (not being purged)
 *     AND NOT EXISTS (SELECT 1 FROM bulk_operations c WHERE c.parent_id = o.id)
 *     AND NOT EXISTS (a PENDING notification delivery of one of its events)
 *   ORDER BY finished_at LIMIT 1 FOR UPDATE SKIP LOCKED
 * then, holding that row lock, the children are looked for again (a fresh snapshot: a retry
 * or rollback locks its parent before it inserts itself, so any child committed by now is
 * seen, and any later one will find the mark), then the mark is set. Served by
 * bulk_operations_finished_idx, the partial parent index, notification_events_operation_idx
 * and notification_deliveries_event_idx.
 */
async function claimExpired(db: Db, cutoff: Date): Promise<PurgeTarget | undefined> {
  return await db.transaction().execute(async (tx) => {
    const candidate = await tx.selectFrom("bulk_operations as o").select(["o.id", "o.total"])
      .where("o.finished_at", "<", cutoff)
      .where((w) =>
        w.or([
          w("o.purge_started_at", "is", null),
          w("o.purge_started_at", "<", sql<Date>`now() - ${STALE_PURGE}::interval`),
        ])
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom("bulk_operations as c").select("c.id").whereRef("c.parent_id", "=", "o.id")))
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(
          selectFrom("notification_events as e").innerJoin("notification_deliveries as d", "d.event_id", "e.id")
            .select("d.id").whereRef("e.operation_id", "=", "o.id").where("d.status", "=", "PENDING"),
        ))
      )
      .orderBy("o.finished_at").limit(1).forUpdate().skipLocked().executeTakeFirst();
    if (!candidate || await hasChild(tx, candidate.id)) return undefined; // a child appeared: next run
    await tx.updateTable("bulk_operations").set({ purge_started_at: sql`now()` }).where("id", "=", candidate.id)
      .execute();
    return candidate;
  });
}

/**
 * Runs a batched DELETE (at most `batchSize` rows each) until one deletes fewer or the budget
 * is spent; returns how many it deleted and whether it got to the end.
 */
async function inBatches(
  batchSize: number,
  budget: Budget,
  deleteBatch: () => Promise<number>,
): Promise<{ deleted: number; done: boolean }> {
  let deleted = 0;
  while (budget.more()) {
    const n = await deleteBatch();
    deleted += n;
    if (n < batchSize) return { deleted, done: true };
  }
  return { deleted, done: false };
}

const deletedRows = (result: DeleteResult) => Number(result.numDeletedRows);
const affected = (result: QueryResult<unknown>) => Number(result.numAffectedRows ?? 0n);

type Counts = Pick<RetentionResult, "operations" | "items" | "events" | "notifications">;

/**
 * The ledger: its rows, one primary-key range of positions per statement, from the lowest one left; then
 * its runs (a compactLedger action's SUCCEEDED items, migrations/0017), `batchSize` runs per statement,
 * counted as the items they hold (last, so an operation without runs pays its one statement only once
 * its rows are gone).
 */
async function deleteItems(db: Db, op: PurgeTarget, batchSize: number, budget: Budget) {
  const lowest = await db.selectFrom("bulk_operation_items").select("position").where("operation_id", "=", op.id)
    .orderBy("position").limit(1).executeTakeFirst();
  let deleted = 0;
  for (let from = lowest?.position ?? op.total; from < op.total; from += batchSize) {
    if (!budget.more()) return { deleted, done: false };
    const result = await db.deleteFrom("bulk_operation_items").where("operation_id", "=", op.id)
      .where("position", ">=", from).where("position", "<", from + batchSize).executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  const runs = await inBatches(batchSize, budget, async () => {
    const { rows } = await sql<{ runs: number; items: number }>`
      WITH gone AS (
        DELETE FROM bulk_item_runs WHERE (operation_id, first_position) IN (
          SELECT operation_id, first_position FROM bulk_item_runs WHERE operation_id = ${op.id}
          ORDER BY first_position LIMIT ${batchSize})
        RETURNING cardinality(target_ids) AS n)
      SELECT count(*)::int AS runs, coalesce(sum(n), 0)::int AS items FROM gone`.execute(db);
    deleted += rows[0].items;
    return rows[0].runs;
  });
  return { deleted, done: runs.done };
}

/**
 * One step of deleting an operation: how many rows it deleted and whether it got to its end.
 * Notification deliveries go only once settled: claimExpired skips operations with a PENDING
 * one, and one made PENDING since (a redelivery) is kept with its event, and then the
 * operation too, until a later run (after STALE_PURGE) finds it settled.
 */
function step(
  db: Db,
  op: PurgeTarget,
  name: Exclude<typeof STEPS[number], "operation">,
  batchSize: number,
  budget: Budget,
): Promise<{ deleted: number; done: boolean }> {
  switch (name) {
    case "items":
      return deleteItems(db, op, batchSize, budget);
    case "events":
      return inBatches(batchSize, budget, () =>
        db.deleteFrom("bulk_operation_events")
          .where("id", "in", (eb) =>
            eb.selectFrom("bulk_operation_events").select("id").where("operation_id", "=", op.id).orderBy("id")
              .limit(batchSize))
          .executeTakeFirst().then(deletedRows));
    case "deliveries":
      return inBatches(batchSize, budget, () =>
        sql`DELETE FROM notification_deliveries WHERE id IN (
              SELECT d.id FROM notification_events e JOIN notification_deliveries d ON d.event_id = e.id
              WHERE e.operation_id = ${op.id} AND d.status <> 'PENDING' LIMIT ${batchSize})`.execute(db)
          .then(affected));
    case "notification events":
      return inBatches(batchSize, budget, () =>
        sql`DELETE FROM notification_events WHERE id IN (
              SELECT e.id FROM notification_events e WHERE e.operation_id = ${op.id}
                AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = e.id)
              LIMIT ${batchSize})`.execute(db).then(affected));
  }
}

/** Which count of the result each step adds to. */
const COUNTED = {
  items: "items",
  events: "events",
  deliveries: "notifications",
  "notification events": "notifications",
} as const;

/**
 * Deletes the operation step by step, from the step it stopped in; returns null once done, or
 * the target with the step to resume in when the budget ran out.
 */
async function deleteOperation(
  db: Db,
  op: PurgeTarget,
  batchSize: number,
  budget: Budget,
  counts: Counts,
): Promise<PurgeTarget | null> {
  for (const name of STEPS.slice(STEPS.indexOf(op.step ?? "items"))) {
    if (name === "operation") {
      if (!budget.more()) return { ...op, step: name };
      // Finished operations have no jobs; the cascade removes any all the same. Kept while a
      // notification event is left (a delivery of it is PENDING): the cascade would delete it.
      const row = await db.deleteFrom("bulk_operations").where("id", "=", op.id)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom("notification_events").select("id").where("operation_id", "=", op.id)))
        ).executeTakeFirst();
      counts.operations += deletedRows(row);
      return null;
    }
    const { deleted, done } = await step(db, op, name, batchSize, budget);
    counts[COUNTED[name]] += deleted;
    if (!done) return { ...op, step: name };
  }
  return null;
}

/** Deletes expired previews, `batchSize` at a time (served by bulk_previews_expiry_idx). */
function deleteExpiredPreviews(db: Db, now: Date, batchSize: number, budget: Budget) {
  return inBatches(batchSize, budget, () =>
    db.deleteFrom("bulk_previews")
      .where("id", "in", (eb) =>
        eb.selectFrom("bulk_previews").select("id").where("expires_at", "<", now).orderBy("expires_at")
          .limit(batchSize))
      .executeTakeFirst().then(deletedRows));
}

/**
 * One retention run of about `budgetMs`: the operation the previous run left, further expired
 * operations, then expired previews.
 */
export async function purgeExpired(db: Db, options: RetentionOptions): Promise<RetentionResult> {
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? 5000;
  const budget = new Budget(options.budgetMs ?? RUN_BUDGET_MS, options.signal);
  const cutoff = new Date(now.getTime() - options.retentionDays * 86_400_000);
  const result: RetentionResult = {
    operations: 0,
    items: 0,
    events: 0,
    notifications: 0,
    previews: 0,
    backlog: false,
    unfinished: null,
  };
  let target = options.resume ?? null;
  for (;;) {
    if (!target) {
      if (!budget.left()) return { ...result, backlog: true };
      target = await claimExpired(db, cutoff) ?? null;
      if (!target) break;
    }
    target = await deleteOperation(db, target, batchSize, budget, result);
    if (target) return { ...result, backlog: true, unfinished: target };
  }
  const previews = await deleteExpiredPreviews(db, now, batchSize, budget);
  return { ...result, previews: previews.deleted, backlog: !previews.done };
}

export interface RetentionLoopOptions {
  retentionDays: number;
  /** Delay of the first run after start(). */
  firstRunMs: number;
  onError: (message: string) => void;
}

/**
 * A process's retention: runs chained on a timer of their own (the next one is scheduled
 * when the previous one ended), RETENTION_BACKLOG_PAUSE_MS apart while work is left, else
 * RETENTION_INTERVAL_MS. stop() aborts the run in progress, which ends after its statement in
 * flight, and waits for it, so the caller may then close the database.
 */
export class RetentionLoop {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;
  readonly #abort = new AbortController();
  #resume: PurgeTarget | null = null;

  constructor(private readonly db: Db, private readonly options: RetentionLoopOptions) {}

  start(): void {
    this.#schedule(this.options.firstRunMs);
  }

  /** `await using loop = new RetentionLoop(...)` stops it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#run().then((nextMs) => {
        this.#running = null;
        this.#schedule(nextMs);
      });
    }, ms);
  }

  /** One run; resolves to the delay before the next one (never rejects). */
  async #run(): Promise<number> {
    try {
      const result = await purgeExpired(this.db, {
        retentionDays: this.options.retentionDays,
        signal: this.#abort.signal,
        resume: this.#resume,
      });
      this.#resume = result.unfinished;
      // The audit trail is kept as long as the operations (src/audit/retention.ts).
      const audit = await pruneAuditEvents(this.db, {
        retentionDays: this.options.retentionDays,
        signal: this.#abort.signal,
      });
      return result.backlog || audit.backlog ? RETENTION_BACKLOG_PAUSE_MS : RETENTION_INTERVAL_MS;
    } catch (error) {
      this.options.onError(`retention: ${errorMessage(error)}`);
      return RETENTION_INTERVAL_MS;
    }
  }
}
