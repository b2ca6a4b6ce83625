/**
 * Operations derived from a parent, built on startOperation (same engine, same ledger,
 * progress, history and cancel):
 * - retryFailedItems: a RETRY over the parent's FAILED items (optionally only some codes),
 *   same action and parameters; the parent stays as it was. Each failed item is retried
 *   once per parent: while an earlier RETRY of the parent is running, or once one ended
 *   other than CANCELLED, another is refused (ALREADY_RETRIED; retry that retry instead).
 *   A CANCELLED retry does not block: the next retry of the parent covers the parent's
 *   failed items that no earlier retry processed (those it left CANCELLED), and retrying the
 *   cancelled retry itself covers the items it ran and that failed again, so the two never
 *   overlap. A rolled-back parent can be retried too: a rollback restores only the parent's
 *   SUCCEEDED items and a retry covers only its FAILED ones, so they never touch the same
 *   item; the retry's changes are its own, undone by rolling back the retry.
 * - rollbackOperation: a ROLLBACK over the parent's SUCCEEDED items, restoring the fields
 *   the parent changed (conflicts skipped unless force). Within the rollback window only;
 *   one at a time per parent; never of a rollback; only by a role that could run the parent.
 *   Once a rollback of the parent has finished having restored something, another is refused
 *   (ALREADY_ROLLED_BACK), except a forced one ("overwrite conflicts"); a rollback that was
 *   cancelled or restored nothing does not count. Every rollback covers only the parent's
 *   items no earlier rollback restored, so the forced one overwrites just the conflicts
 *   left, and nothing is rolled back twice.
 * Both lock the parent row inside the creating transaction, so two concurrent requests
 * cannot both pass the checks.
 */
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import type { NotifyOptions } from "../notify/events.ts";
import { type BulkDomain, roleAllows, type RollbackParams, type Tx } from "./action.ts";
import { operatorRefusal } from "./operator.ts";
import { isTerminal, type OperationRow } from "./operation.ts";
import {
  type ParentItems,
  parentItemsQuery,
  type Started,
  StartError,
  type StartLimits,
  startOperation,
} from "./start.ts";

async function lockParent(tx: Tx, viewer: Viewer, parentId: string): Promise<OperationRow> {
  const parent = await tx.selectFrom("bulk_operations").selectAll().where("tenant_id", "=", viewer.tenantId)
    .where("id", "=", parentId).forUpdate().executeTakeFirst();
  // Retention is deleting it (retention.ts): its ledger may already be partly gone.
  if (!parent || parent.purge_started_at) {
    throw new StartError("NOT_FOUND", "No bulk operation with this id.", ["input", "id"]);
  }
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

/** The parent's children of a kind, oldest first. */
async function childrenOf(tx: Tx, parentId: string, kind: "RETRY" | "ROLLBACK"): Promise<OperationRow[]> {
  return await tx.selectFrom("bulk_operations").selectAll().where("parent_id", "=", parentId)
    .where("kind", "=", kind).orderBy("created_at").execute();
}

async function hasTargets(tx: Tx, targets: ParentItems): Promise<boolean> {
  return !!(await parentItemsQuery(tx, targets).limit(1).executeTakeFirst());
}

export async function retryFailedItems(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  parentId: string,
  options: { errorCodes?: string[]; limits: StartLimits; notify?: NotifyOptions | null },
): Promise<Started> {
  const parent = await readParent(db, viewer, parentId);
  if (parent.kind === "ROLLBACK") {
    // A rollback's failed items carry no images to restore any more: roll back again instead.
    throw new StartError(
      "NOT_RETRYABLE",
      "A rollback's failed items cannot be retried; roll the original operation back again (with force if needed).",
      ["input", "id"],
    );
  }
  const codes = options.errorCodes?.length ? options.errorCodes : undefined;
  // Items an earlier (cancelled) retry processed are its own to retry, not the parent's.
  const targets: ParentItems = {
    kind: "parentItems",
    operationId: parentId,
    outcome: "FAILED",
    codes,
    excludeSettledBy: { kind: "RETRY", outcomes: ["SUCCEEDED", "FAILED", "SKIPPED"] },
    carryRecords: domain.actions.get(parent.action_type)?.kind === "IMPORT",
  };
  return await startOperation(db, domain, viewer, {
    kind: "RETRY",
    parentId,
    actionType: parent.action_type,
    params: parent.action_params,
    targets,
    description: `Retry of failed items${codes ? ` (${codes.join(", ")})` : ""}`,
    notify: options.notify,
    guard: async (tx) => {
      await lockParent(tx, viewer, parentId);
      // A second RETRY of the same parent would re-apply items the first one already fixed
      // (twice the comment), unless the first was cancelled (its unprocessed items are excluded).
      const earlier = (await childrenOf(tx, parentId, "RETRY")).find((retry) => retry.status !== "CANCELLED");
      if (earlier) {
        throw new StartError(
          "ALREADY_RETRIED",
          `This operation was already retried (operation ${earlier.id}, ${earlier.status}); retry that operation ` +
            "instead.",
          ["input", "id"],
        );
      }
      if (!(await hasTargets(tx, targets))) {
        throw new StartError(
          "NOTHING_TO_RETRY",
          (codes ? `No failed items with code ${codes.join(" or ")}` : "The operation has no failed items") +
            " that an earlier (cancelled) retry did not process.",
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
  /** Notifications the caller asked for, as for any start. */
  notify?: NotifyOptions | null;
}

export async function rollbackOperation(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  parentId: string,
  options: RollbackOptions,
): Promise<Started> {
  const parent = await readParent(db, viewer, parentId);
  if (parent.kind === "ROLLBACK") {
    throw new StartError(
      "ROLLBACK_OF_ROLLBACK",
      "A rollback cannot be rolled back; start a new operation that sets the state you want.",
      ["input", "id"],
    );
  }
  const parentAction = domain.actions.get(parent.action_type);
  if (parentAction?.kind === "EXPORT") {
    throw new StartError("NOTHING_TO_ROLL_BACK", "An export changed nothing: there is nothing to roll back.", [
      "input",
      "id",
    ]);
  }
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
  const targets: ParentItems = {
    kind: "parentItems",
    operationId: parentId,
    outcome: "SUCCEEDED",
    swapImages: true,
    excludeSettledBy: { kind: "ROLLBACK", outcomes: ["SUCCEEDED"] },
  };
  return await startOperation(db, domain, viewer, {
    kind: "ROLLBACK",
    parentId,
    actionType: domain.rollback.type,
    params: { parentActionType: parent.action_type, force: options.force } satisfies RollbackParams,
    targets,
    description: `Rollback of ${parent.action_type}${options.force ? " (force)" : ""}`,
    notify: options.notify,
    guard: async (tx) => {
      await lockParent(tx, viewer, parentId);
      if (parent.succeeded === 0) {
        throw new StartError("NOTHING_TO_ROLL_BACK", "The operation changed nothing; there is nothing to undo.", [
          "input",
          "id",
        ]);
      }
      const earlier = await childrenOf(tx, parentId, "ROLLBACK");
      if (earlier.some((rollback) => !isTerminal(rollback.status))) {
        throw new StartError("ROLLBACK_IN_PROGRESS", "A rollback of this operation is already running.", [
          "input",
          "id",
        ]);
      }
      const done = earlier.find((rollback) => rollback.status !== "CANCELLED" && rollback.succeeded > 0);
      if (done && (!options.force || !(await hasTargets(tx, targets)))) {
        throw new StartError(
          "ALREADY_ROLLED_BACK",
          `This operation was already rolled back (operation ${done.id}). ` +
            (options.force
              ? "Every item it changed has been restored."
              : "Roll it back with force to overwrite the items that rollback skipped as CONFLICT."),
          ["input", "id"],
        );
      }
    },
  }, options.limits);
}
