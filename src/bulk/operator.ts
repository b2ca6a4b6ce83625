/**
 * Who may act on an existing operation (cancel it, retry its failed items, roll it back): its creator, or
 * an ADMIN of its tenant. Another AGENT must not stop or undo a colleague's work (an AGENT cancelled an
 * ADMIN's SET_PRIORITY before this rule). A separate rule from "the role that may run the action"
 * (action.ts roleAllows): both must hold.
 */
import type { Viewer } from "../auth/tokens.ts";
import type { OperationRow } from "./operation.ts";

/** The refusal message, or null when `viewer` may act on `operation` (same tenant assumed: it was found). */
export function operatorRefusal(viewer: Viewer, operation: Pick<OperationRow, "created_by">): string | null {
  if (viewer.role === "ADMIN" || operation.created_by === viewer.userId) return null;
  return "Only the operation's creator or an ADMIN may cancel, retry or roll it back.";
}
