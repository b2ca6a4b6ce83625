/**
 * Cancel: once committed, no new chunk of the operation starts (runChunk reads
 * cancel_requested_at first); the chunk in flight finishes; every item not applied ends
 * CANCELLED. The work is bounded whatever the operation's size:
 * - no chunk in flight and at most CANCEL_INLINE_ITEMS never-run items: their jobs are
 *   deleted with their items ended CANCELLED (queue/cancel-jobs.ts) and the operation ends CANCELLED,
 *   all in this transaction (a waiting or scheduled operation is CANCELLED when this returns);
 *   a job a worker claims meanwhile is skipped, not waited for, and that worker's chunk ends
 *   the operation;
 * - otherwise (a chunk in flight, or a 1,000,000-item operation with up to 500 waiting
 *   jobs): the waiting jobs are made due now and the workers end each job's items CANCELLED
 *   in a transaction of its own that locks no target (runChunk), so the cancel request
 *   rewrites no item and no transaction holding target locks rewrites more than its own
 *   chunk. The operation is CANCELLING, with its counters moving only as jobs commit, until
 *   the last of them commits.
 */
import { sql } from "kysely";
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import type { Role } from "../db/tables.ts";
import { type BulkDomain, roleAllows, type RollbackParams } from "./action.ts";
import { bumpCounters, maybeFinish } from "./finalize.ts";
import { notifyJobs, notifyProgress } from "./notify.ts";
import { operatorRefusal } from "./operator.ts";
import { isTerminal, type OperationRow, recordEvent } from "./operation.ts";
import { countEndedByCancel } from "../metrics/engine.ts";
import { deleteUnclaimedJobs } from "./queue/cancel-jobs.ts";
import { makeJobsDue } from "./queue/make-due.ts";
import { stringField } from "../guards.ts";

export type CancelResult =
  /** endedHere: this transaction ended the operation (no chunk was in flight). */
  | { ok: true; operation: OperationRow; endedHere?: boolean }
  | { ok: false; code: "NOT_FOUND" | "ALREADY_FINISHED" | "FORBIDDEN"; message: string };

/**
 * The most never-run items a cancel request ends itself (one UPDATE through the primary
 * key). Measured on the 2-core machine: a whole cancel request of a waiting 10,000-item
 * operation took 85-95 ms, about one chunk's commit (docs/performance.md); past this the
 * workers end them job by job.
 */
export const CANCEL_INLINE_ITEMS = 10_000;

/**
 * The least role that may cancel an operation: the one its action needs, and for a
 * rollback the one its parent's action needs (a rollback of a soft delete un-deletes targets, so
 * only an ADMIN may run it, and so only an ADMIN may stop it half way).
 */
function roleToCancel(domain: BulkDomain, operation: OperationRow): Role {
  const required = (type: string | undefined) => domain.actions.get(type ?? "")?.requiredRole ?? "ADMIN";
  const own = required(operation.action_type);
  if (operation.kind !== "ROLLBACK") return own;
  const parent = required(stringField(operation.action_params, "parentActionType" satisfies keyof RollbackParams));
  return roleAllows(parent, own) ? parent : own; // the higher of the two
}

/** Cancels an operation of the viewer's tenant; only a role that may run its action may cancel it. */
export async function cancelOperation(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  operationId: string,
): Promise<CancelResult> {
  const result = await db.transaction().execute(async (tx): Promise<CancelResult> => {
    const operation = await tx.selectFrom("bulk_operations").selectAll()
      .where("tenant_id", "=", viewer.tenantId).where("id", "=", operationId)
      .forUpdate().executeTakeFirst();
    if (!operation) return { ok: false, code: "NOT_FOUND", message: "No bulk operation with this id." };
    const notOperator = operatorRefusal(viewer, operation);
    if (notOperator) return { ok: false, code: "FORBIDDEN", message: notOperator };
    const required = roleToCancel(domain, operation);
    if (!roleAllows(viewer.role, required)) {
      return {
        ok: false,
        code: "FORBIDDEN",
        message: `Cancelling ${operation.action_type} needs the ${required} role; you are ${viewer.role}.`,
      };
    }
    if (isTerminal(operation.status)) {
      return {
        ok: false,
        code: "ALREADY_FINISHED",
        message: `The operation already ended (${operation.status}); there is nothing to cancel.`,
      };
    }
    if (operation.cancel_requested_at) return { ok: true, operation }; // asking twice is harmless
    const cancelling = await tx.updateTable("bulk_operations")
      .set({ cancel_requested_at: sql`now()`, status: "CANCELLING" })
      .where("id", "=", operationId).returningAll().executeTakeFirstOrThrow();
    await recordEvent(tx, operationId, "CANCEL_REQUESTED", {}, viewer.userId, viewer.origin);
    const jobs = await tx.selectFrom("bulk_jobs").select(["id", "first_position", "last_position", "locked_by"])
      .where("operation_id", "=", operationId).execute();
    const waitingItems = jobs.reduce((sum, job) => sum + job.last_position - job.first_position + 1, 0);
    let after = cancelling;
    if (jobs.every((job) => job.locked_by === null) && waitingItems <= CANCEL_INLINE_ITEMS) {
      const cancelled = await deleteUnclaimedJobs(tx, operationId);
      after = await bumpCounters(tx, { id: operationId, tenantId: viewer.tenantId }, {
        succeeded: 0,
        failed: 0,
        skipped: 0,
        cancelled,
        codes: {},
      });
      // A job skipped by the DELETE is being claimed: it is left, so the operation stays
      // CANCELLING, and that worker's chunk (runChunk or settleFailure) settles it and ends it.
      after = await maybeFinish(tx, after);
    } else {
      // Waiting, scheduled or backing off after a failure: all due now, to be cancelled job by job.
      await makeJobsDue(tx, [operationId]);
      await notifyJobs(tx);
      await notifyProgress(tx, viewer.tenantId, operationId);
    }
    return { ok: true, operation: after, endedHere: isTerminal(after.status) };
  });
  if (result.ok && result.endedHere) countEndedByCancel(result.operation);
  return result;
}
