/**
 * Operations derived from a parent, built on startOperation (same engine, same ledger,
 * progress, history and cancel):
 * - retryFailedItems: a RETRY over the parent's FAILED items (optionally only some codes),
 *   same action and parameters; the parent stays as it was.
 * - rollbackOperation: a ROLLBACK over the parent's SUCCEEDED items, restoring their
 *   before-images (conflicts skipped unless force). Within the rollback window only; one at
 *   a time per parent; never of a rollback; only by a role that could run the parent.
 * Both lock the parent row inside the creating transaction, so two concurrent requests
 * cannot both pass the checks.
 */
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import { type BulkDomain, roleAllows, type Tx } from "./action.ts";
import { operatorRefusal } from "./operator.ts";
import { isTerminal, type OperationRow, TERMINAL_STATUSES } from "./operation.ts";
import { type Started, StartError, type StartLimits, startOperation } from "./start.ts";

async function lockParent(tx: Tx, viewer: Viewer, parentId: string): Promise<OperationRow> {
  const parent = await tx.selectFrom("bulk_operations").selectAll().where("tenant_id", "=", viewer.tenantId)
    .where("id", "=", parentId).forUpdate().executeTakeFirst() as OperationRow | undefined;
  if (!parent) throw new StartError("NOT_FOUND", "No bulk operation with this id.", ["input", "id"]);
  const notOperator = operatorRefusal(viewer, parent);
  if (notOperator) throw new StartError("FORBIDDEN", notOperator);
  if (!isTerminal(parent.status)) {
    throw new StartError(
      "OPERATION_ACTIVE",
      `The operation is still ${parent.status}; wait for it to end (or cancel it) first.`,
      ["input", "id"],
    );
  }
  return parent;
}

async function readParent(db: Db, viewer: Viewer, parentId: string): Promise<OperationRow> {
  return await db.transaction().execute((tx) => lockParent(tx, viewer, parentId));
}

export async function retryFailedItems(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  parentId: string,
  options: { errorCodes?: string[]; limits: StartLimits },
): Promise<Started> {
  const parent = await readParent(db, viewer, parentId);
  if (parent.action_type === "ROLLBACK") {
    // A rollback's failed items carry no images to restore any more: roll back again instead.
    throw new StartError(
      "NOT_RETRYABLE",
      "A rollback's failed items cannot be retried; roll the original operation back again (with force if needed).",
      ["input", "id"],
    );
  }
  const codes = options.errorCodes?.length ? options.errorCodes : undefined;
  return await startOperation(db, domain, viewer, {
    kind: "RETRY",
    parentId,
    actionType: parent.action_type,
    params: parent.action_params,
    targets: { kind: "parentItems", operationId: parentId, outcome: "FAILED", codes },
    description: `Retry of failed items${codes ? ` (${codes.join(", ")})` : ""}`,
    guard: async (tx) => {
      await lockParent(tx, viewer, parentId);
      // Each failed item is retried once per parent: a second RETRY of the same parent would
      // re-apply items the first one already fixed (twice the comment). Retry the retry.
      const earlier = await tx.selectFrom("bulk_operations").select("id").where("parent_id", "=", parentId)
        .where("kind", "=", "RETRY").executeTakeFirst();
      if (earlier) {
        throw new StartError(
          "ALREADY_RETRIED",
          `This operation was already retried (operation ${earlier.id}); retry that operation instead.`,
          ["input", "id"],
        );
      }
      const failed = await tx.selectFrom("bulk_operation_items").select("position")
        .where("operation_id", "=", parentId).where("outcome", "=", "FAILED")
        .$if(codes !== undefined, (q) => q.where("error_code", "in", codes!)).limit(1).executeTakeFirst();
      if (!failed) {
        throw new StartError(
          "NOTHING_TO_RETRY",
          codes ? `No failed items with code ${codes.join(" or ")}.` : "The operation has no failed items.",
          ["input", "id"],
        );
      }
    },
  }, options.limits);
}

export interface RollbackOptions {
  force: boolean;
  /** Rollback window: rollback is refused this long after the parent ended. */
  windowHours: number;
  /** The current time (injected so tests can move it instead of sleeping). */
  now?: Date;
  limits: StartLimits;
}

export async function rollbackOperation(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  parentId: string,
  options: RollbackOptions,
): Promise<Started> {
  const parent = await readParent(db, viewer, parentId);
  if (parent.action_type === "ROLLBACK") {
    throw new StartError(
      "ROLLBACK_OF_ROLLBACK",
      "A rollback cannot be rolled back; start a new operation that sets the state you want.",
      ["input", "id"],
    );
  }
  const parentAction = domain.actions.get(parent.action_type);
  if (parentAction && !roleAllows(viewer.role, parentAction.requiredRole)) {
    throw new StartError(
      "FORBIDDEN",
      `Rolling back ${parent.action_type} needs the ${parentAction.requiredRole} role; you are ${viewer.role}.`,
    );
  }
  const now = options.now ?? new Date();
  const ended = new Date(parent.finished_at ?? parent.created_at);
  if (now.getTime() - ended.getTime() > options.windowHours * 3_600_000) {
    throw new StartError(
      "ROLLBACK_WINDOW_EXPIRED",
      `Operations can be rolled back for ${options.windowHours} hours after they end; this one ended ${ended.toISOString()}.`,
      ["input", "id"],
    );
  }
  return await startOperation(db, domain, viewer, {
    kind: "ROLLBACK",
    parentId,
    actionType: "ROLLBACK",
    params: { parentActionType: parent.action_type, force: options.force },
    targets: { kind: "parentItems", operationId: parentId, outcome: "SUCCEEDED", swapImages: true },
    description: `Rollback of ${parent.action_type}${options.force ? " (force)" : ""}`,
    guard: async (tx) => {
      await lockParent(tx, viewer, parentId);
      const applied = await tx.selectFrom("bulk_operation_items").select("position")
        .where("operation_id", "=", parentId).where("outcome", "=", "SUCCEEDED").limit(1).executeTakeFirst();
      if (!applied) {
        throw new StartError("NOTHING_TO_ROLL_BACK", "The operation changed nothing; there is nothing to undo.", [
          "input",
          "id",
        ]);
      }
      const running = await tx.selectFrom("bulk_operations").select("id").where("parent_id", "=", parentId)
        .where("kind", "=", "ROLLBACK").where("status", "not in", TERMINAL_STATUSES)
        .executeTakeFirst();
      if (running) {
        throw new StartError("ROLLBACK_IN_PROGRESS", "A rollback of this operation is already running.", [
          "input",
          "id",
        ]);
      }
    },
  }, options.limits);
}
