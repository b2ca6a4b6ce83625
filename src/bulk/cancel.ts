/**
 * Cancel: once committed, no new chunk of the operation starts (runChunk reads
 * cancel_requested_at first); the chunk in flight finishes; every item not applied ends
 * CANCELLED. Unclaimed jobs are deleted here; if none is in flight the operation ends
 * CANCELLED in this same transaction, otherwise the in-flight chunk's commit ends it.
 */
import { sql } from "kysely";
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import { type BulkDomain, roleAllows } from "./action.ts";
import { maybeFinish } from "./finalize.ts";
import { notifyProgress } from "./notify.ts";
import { isTerminal, type OperationRow, recordEvent } from "./operation.ts";

export type CancelResult =
  | { ok: true; operation: OperationRow }
  | { ok: false; code: "NOT_FOUND" | "ALREADY_FINISHED" | "FORBIDDEN"; message: string };

/** Cancels an operation of the viewer's tenant; only a role that may run its action may cancel it. */
export async function cancelOperation(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  operationId: string,
): Promise<CancelResult> {
  return await db.transaction().execute(async (tx) => {
    const operation = await tx.selectFrom("bulk_operations").selectAll()
      .where("tenant_id", "=", viewer.tenantId).where("id", "=", operationId)
      .forUpdate().executeTakeFirst() as OperationRow | undefined;
    if (!operation) return { ok: false, code: "NOT_FOUND", message: "No bulk operation with this id." };
    const required = domain.actions.get(operation.action_type)?.requiredRole ?? "ADMIN";
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
      .where("id", "=", operationId).returningAll().executeTakeFirstOrThrow() as OperationRow;
    await recordEvent(tx, operationId, "CANCEL_REQUESTED", {}, viewer.userId, viewer.origin);
    await tx.deleteFrom("bulk_jobs").where("operation_id", "=", operationId).where("locked_by", "is", null)
      .execute();
    const after = await maybeFinish(tx, cancelling);
    await notifyProgress(tx, viewer.tenantId, operationId);
    return { ok: true, operation: after };
  });
}
