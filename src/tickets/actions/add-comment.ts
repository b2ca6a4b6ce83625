/**
 * ADD_COMMENT: one comment per ticket per operation. The unique index
 * ticket_comments_bulk_key (bulk_operation_id, ticket_id) makes that a database fact, so a
 * chunk re-run after a crash can never add a second one (ON CONFLICT DO NOTHING).
 */
import { sql } from "kysely";
import { ActionParamsError, type BulkAction, type ItemResult } from "../../bulk/action.ts";
import { LIMITS } from "../model.ts";
import { closedIsReadOnly, fail, lockTickets } from "./ticket-change.ts";
import { fieldOf } from "../../guards.ts";

export const addComment: BulkAction<{ body: string }> = {
  type: "ADD_COMMENT",
  requiredRole: "AGENT",
  graphql: {
    input: {
      type: {
        fields: { body: { type: "String", required: true, description: `1 to ${LIMITS.commentMax} characters.` } },
      },
    },
    output: { fields: { body: { type: "String" } } },
  },
  parseParams(raw) {
    const body = fieldOf(raw, "body");
    if (typeof body !== "string" || body.trim() === "") {
      throw new ActionParamsError("body", "body must be a non-empty string.");
    }
    if (body.includes("\u0000")) throw new ActionParamsError("body", "body must not contain NUL characters.");
    if (body.length > LIMITS.commentMax) {
      throw new ActionParamsError("body", `body is limited to ${LIMITS.commentMax} characters.`);
    }
    return Promise.resolve({ body });
  },
  async apply(chunk) {
    const tickets = await lockTickets(chunk.tx, chunk.tenantId, chunk.items.map((i) => i.targetId), chunk.dryRun);
    const results: ItemResult[] = [];
    const commenting: { position: number; ticketId: string }[] = [];
    for (const item of chunk.items) {
      const ticket = tickets.get(item.targetId);
      const refusal = !ticket
        ? fail("NOT_FOUND", "No such ticket.")
        : ticket.deleted_at
        ? fail("DELETED", "The ticket is deleted.")
        : closedIsReadOnly(ticket);
      if (refusal && !refusal.change) {
        results.push({
          position: item.position,
          outcome: refusal.outcome,
          code: refusal.code,
          message: refusal.message,
        });
      } else {
        commenting.push({ position: item.position, ticketId: item.targetId });
      }
    }
    if (chunk.dryRun) {
      return [
        ...results,
        ...commenting.map(({ position }) => ({
          position,
          outcome: "SUCCEEDED" as const,
          before: { commentId: null },
          after: { commentId: null },
        })),
      ];
    }
    if (commenting.length > 0) {
      const inserted = await sql<{ id: string; ticket_id: string }>`
        INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body, bulk_operation_id)
        SELECT ${chunk.tenantId}, t, ${chunk.actorId}, ${chunk.params.body}, ${chunk.operationId}
        FROM unnest(${commenting.map((c) => c.ticketId)}::bigint[]) AS t
        ON CONFLICT (bulk_operation_id, ticket_id) WHERE bulk_operation_id IS NOT NULL DO NOTHING
        RETURNING id, ticket_id`.execute(chunk.tx);
      const commentIds = new Map(inserted.rows.map((r) => [String(r.ticket_id), String(r.id)]));
      for (const { position, ticketId } of commenting) {
        const commentId = commentIds.get(ticketId);
        results.push(
          commentId
            ? { position, outcome: "SUCCEEDED", before: { commentId: null }, after: { commentId } }
            : { position, outcome: "SKIPPED", code: "NO_CHANGE", message: "This operation already commented here." },
        );
      }
    }
    return results;
  },
};
