/**
 * DELETE (soft) and RESTORE: admin-only; already in the target state is NO_CHANGE. An
 * optional `reason` is kept with the operation (its action_params, shown in the history).
 */
import { ActionParamsError, type BulkAction } from "../../bulk/action.ts";
import type { ActionGraphQL } from "../../bulk/action-schema.ts";
import { sql } from "kysely";
import { noChangeWhen, ticketChangeLedger } from "./ticket-change.ts";
import { fieldOf } from "../../guards.ts";

/** The optional reason of DELETE, RESTORE and PURGE. */
export type ReasonParams = { reason?: string };

const REASON_MAX = 500;

/** DELETE and RESTORE take the same input type and show the same field; PURGE its own of that shape. */
export const reasonGraphQL = (description: string, inputName = "SoftDeleteActionInput"): ActionGraphQL => ({
  input: {
    description,
    type: {
      name: inputName,
      description: "Pass `{}`; the reason is optional and kept in the operation's history.",
      fields: { reason: { type: "String", required: false, description: `At most ${REASON_MAX} characters.` } },
    },
  },
  output: { fields: { reason: { type: "String", nullable: true } } },
});

export function parseReason(raw: unknown): Promise<ReasonParams> {
  const reason = fieldOf(raw, "reason");
  if (reason === undefined || reason === null || reason === "") return Promise.resolve({});
  if (typeof reason !== "string" || reason.length > REASON_MAX || reason.includes("\u0000")) {
    throw new ActionParamsError("reason", `reason must be text of at most ${REASON_MAX} characters.`);
  }
  return Promise.resolve({ reason });
}

export const softDelete: BulkAction<ReasonParams> = {
  type: "DELETE",
  requiredRole: "ADMIN",
  graphql: reasonGraphQL("Soft delete (ADMIN only)."),
  parseParams: parseReason,
  ledgerSql: (chunk) =>
    ticketChangeLedger(chunk, { deleted_at: "now" }, [
      noChangeWhen(sql`t.deleted_at IS NOT NULL`, "Already deleted."),
    ], { acceptsDeleted: true }),
};

export const restore: BulkAction<ReasonParams> = {
  type: "RESTORE",
  requiredRole: "ADMIN",
  graphql: reasonGraphQL("Undo a soft delete (ADMIN only)."),
  parseParams: parseReason,
  ledgerSql: (chunk) =>
    ticketChangeLedger(chunk, { deleted_at: null }, [
      noChangeWhen(sql`t.deleted_at IS NULL`, "Not deleted."),
    ], { acceptsDeleted: true }),
};
