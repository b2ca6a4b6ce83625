/**
 * Admission: at most BULK_MAX_ACTIVE_PER_USER operations of one user run at once; the
 * others wait QUEUED (not refused) and are admitted, oldest first, when a slot frees.
 * Scheduled operations are admitted when their time comes. Admission of a user always
 * locks that user's row first, so concurrent starts/finishes never over-admit.
 * Admitting = status RUNNING + its jobs' run_at from 'infinity' to now().
 *
 * The user row is locked FOR NO KEY UPDATE, not FOR UPDATE: foreign-key checks take FOR KEY
 * SHARE on the referenced row, which FOR UPDATE blocks. With FOR UPDATE a cancel (operation
 * row locked, then an event whose actor references the user) and an admission (user row
 * locked, then an UPDATE of that operation) deadlocked, and ADD_COMMENT/ASSIGN chunks
 * (comments and assignees reference users) waited for a user's whole 100k-item start.
 * FOR NO KEY UPDATE still conflicts with itself, so admissions of one user stay serialised.
 * The engine's lock order is written down in docs/architecture.md.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { Tx } from "./action.ts";
import { notifyJobs, notifyProgress } from "./notify.ts";
import { admitQueued, queueDueScheduled } from "./queue/admit.ts";
import { makeJobsDue } from "./queue/make-due.ts";
import { enqueueOperationEvent } from "../notify/outbox.ts";
import { ACTIVE_STATUSES, type OperationStatus, recordEvent } from "./operation.ts";

async function lockUserAndCountActive(tx: Tx, userId: string): Promise<number> {
  await tx.selectFrom("users").select("id").where("id", "=", userId).forNoKeyUpdate().execute();
  const row = await tx.selectFrom("bulk_operations").select((eb) => eb.fn.countAll<number>().as("n"))
    .where("created_by", "=", userId).where("status", "in", ACTIVE_STATUSES).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The status a new operation starts in (locks the creator's row for the transaction). */
export async function admissionStatus(
  tx: Tx,
  userId: string,
  scheduledAt: Date | null,
  maxActive: number,
): Promise<OperationStatus> {
  const active = await lockUserAndCountActive(tx, userId);
  if (scheduledAt && scheduledAt.getTime() > Date.now()) return "SCHEDULED";
  const waiting = await tx.selectFrom("bulk_operations").select("id").where("created_by", "=", userId)
    .where("status", "=", "QUEUED").limit(1).executeTakeFirst();
  // Behind an already queued operation of the same user, even if a slot is free right now.
  return active < maxActive && !waiting ? "RUNNING" : "QUEUED";
}

/** Admits what one user may run now; returns the admitted operation ids. */
export async function admitUser(db: Db, userId: string, maxActive: number): Promise<string[]> {
  return await db.transaction().execute(async (tx) => {
    const free = maxActive - await lockUserAndCountActive(tx, userId);
    await queueDueScheduled(tx, userId);
    if (free <= 0) return [];
    const admitted = await admitQueued(tx, userId, free);
    if (admitted.length === 0) return [];
    await makeJobsDue(tx, admitted.map((o) => o.id));
    for (const operation of admitted) {
      await recordEvent(tx, operation.id, "STARTED");
      await notifyProgress(tx, operation.tenant_id, operation.id);
    }
    await enqueueOperationEvent(tx, admitted.map((o) => o.id), "bulk_operation.started");
    await notifyJobs(tx);
    return admitted.map((o) => o.id);
  });
}

/** Users per page of admitWaiting. */
const ADMISSION_PAGE = 100;

/**
 * One page of the users admission can act on, in id order after `after`: those with a
 * waiting operation and a free slot, or with a scheduled operation that is due (it must
 * turn QUEUED even when no slot is free). Users at their cap are left out, so however many
 * of them wait they never crowd out the others (they used to fill the 100-user page):
 *   SELECT created_by FROM (waiting operations grouped by creator) w
 *   WHERE due OR (SELECT count(*) FROM bulk_operations WHERE created_by = w.created_by
 *                 AND status = ANY($activeStatuses)) < $maxActive
 *   ORDER BY created_by LIMIT 100
 * The waiting operations come from the partial index bulk_operations_waiting_idx, each
 * count from bulk_operations_creator_idx (created_by, status).
 */
async function admissibleUsers(db: Db, maxActive: number, after: string | null): Promise<string[]> {
  const { rows } = await sql<{ created_by: string }>`
    SELECT w.created_by FROM (
      SELECT created_by, bool_or(status = 'SCHEDULED') AS due FROM bulk_operations
      WHERE status IN ('SCHEDULED', 'QUEUED') AND (status = 'QUEUED' OR scheduled_at <= now())
        ${after === null ? sql`` : sql`AND created_by > ${after}`}
      GROUP BY created_by) AS w
    WHERE w.due OR (SELECT count(*) FROM bulk_operations AS a
                    WHERE a.created_by = w.created_by AND a.status = ANY(${ACTIVE_STATUSES}::text[])) < ${maxActive}
    ORDER BY w.created_by LIMIT ${ADMISSION_PAGE}`.execute(db);
  return rows.map((row) => row.created_by);
}

/**
 * Admits waiting operations of every user who has some that could run (run by each
 * pool's maintenance tick), paging through all such users by id.
 */
export async function admitWaiting(db: Db, maxActive: number): Promise<string[]> {
  const admitted: string[] = [];
  let after: string | null = null;
  for (;;) {
    const users = await admissibleUsers(db, maxActive, after);
    for (const userId of users) admitted.push(...await admitUser(db, userId, maxActive));
    if (users.length < ADMISSION_PAGE) return admitted;
    after = users[users.length - 1];
  }
}
