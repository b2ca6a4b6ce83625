/**
 * DELETE (soft) and RESTORE: admin-only; already in the target state is NO_CHANGE. An
 * optional `reason` is kept with the operation (its action_params, shown in the history).
 */
import { ActionParamsError, type BulkAction } from "../../bulk/action.ts";
import { applyTicketChange, noChange } from "./ticket-change.ts";

/** The optional reason of DELETE, RESTORE and PURGE. */
export type ReasonParams = { reason?: string };

export function parseReason(raw: unknown): Promise<ReasonParams> {
  const reason = (raw as Record<string, unknown> | null)?.reason;
  if (reason === undefined || reason === null || reason === "") return Promise.resolve({});
  if (typeof reason !== "string" || reason.length > 500 || reason.includes("\u0000")) {
    throw new ActionParamsError("reason", "reason must be text of at most 500 characters.");
  }
  return Promise.resolve({ reason });
}

export const softDelete: BulkAction<ReasonParams> = {
  type: "DELETE",
  requiredRole: "ADMIN",
  parseParams: parseReason,
  apply: (chunk) =>
    applyTicketChange(
      chunk,
      { deleted_at: "now" },
      (ticket) => ticket.deleted_at ? noChange("Already deleted.") : { change: true },
      { acceptsDeleted: true },
    ),
};

export const restore: BulkAction<ReasonParams> = {
  type: "RESTORE",
  requiredRole: "ADMIN",
  parseParams: parseReason,
  apply: (chunk) =>
    applyTicketChange(
      chunk,
      { deleted_at: null },
      (ticket) => ticket.deleted_at ? { change: true } : noChange("Not deleted."),
      { acceptsDeleted: true },
    ),
};
