/** DELETE (soft) and RESTORE: admin-only; already in the target state is NO_CHANGE. */
import type { BulkAction } from "../../bulk/action.ts";
import { applyTicketChange, noChange } from "./ticket-change.ts";

export const softDelete: BulkAction<Record<string, never>> = {
  type: "DELETE",
  requiredRole: "ADMIN",
  parseParams: () => Promise.resolve({}),
  apply: (chunk) =>
    applyTicketChange(
      chunk,
      { deleted_at: "now" },
      (ticket) => ticket.deleted_at ? noChange("Already deleted.") : { change: true },
      { acceptsDeleted: true },
    ),
};

export const restore: BulkAction<Record<string, never>> = {
  type: "RESTORE",
  requiredRole: "ADMIN",
  parseParams: () => Promise.resolve({}),
  apply: (chunk) =>
    applyTicketChange(
      chunk,
      { deleted_at: null },
      (ticket) => ticket.deleted_at ? { change: true } : noChange("Not deleted."),
      { acceptsDeleted: true },
    ),
};
