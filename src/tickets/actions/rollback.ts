/**
 * ROLLBACK: undoes a parent operation item by item from the images its items planned at
 * start (before = the state the parent left, after = the state to restore; see
 * Targets.parentItems with swapImages). Per chunk:
 * - ADD_COMMENT parents: DELETE FROM ticket_comments WHERE id = ANY($ids) (one statement);
 * - field-changing parents: lock the tickets; a ticket whose fields are not those the parent
 *   left was changed since: CONFLICT (skipped, both states kept in the ledger) unless
 *   `force`; the rest: one UPDATE ... FROM unnest(...) restoring each row's fields. Fields,
 *   not the version, decide: a later operation that was itself rolled back leaves the
 *   fields as this parent left them, and undoing newest-first then works without force.
 * Version and updated_at move forward: a rollback is a change like any other.
 */
import { sql } from "kysely";
import type { BulkAction, ChunkContext, ItemResult } from "../../bulk/action.ts";
import { lockTickets } from "./ticket-change.ts";
import { type TicketImage, ticketImage } from "./ticket-image.ts";

export interface RollbackParams {
  parentActionType: string;
  force: boolean;
}

const FIELDS = ["status", "priority", "category", "assigneeId", "deletedAt"] as const;
const sameFields = (a: TicketImage, b: TicketImage) => FIELDS.every((f) => a[f] === b[f]);

async function removeComments(chunk: ChunkContext<RollbackParams>): Promise<ItemResult[]> {
  const commentIds = chunk.items.map((item) => (item.planned?.before as { commentId?: string } | null)?.commentId);
  const present = commentIds.filter((id): id is string => !!id);
  const deleted = chunk.dryRun
    ? await sql<{ id: string }>`SELECT id FROM ticket_comments
        WHERE tenant_id = ${chunk.tenantId} AND id = ANY(${present}::bigint[])`.execute(chunk.tx)
    : await sql<{ id: string }>`DELETE FROM ticket_comments
        WHERE tenant_id = ${chunk.tenantId} AND id = ANY(${present}::bigint[]) RETURNING id`.execute(chunk.tx);
  const removed = new Set(deleted.rows.map((r) => String(r.id)));
  return chunk.items.map((item, i) => {
    const commentId = commentIds[i];
    return commentId && removed.has(String(commentId))
      ? { position: item.position, outcome: "SUCCEEDED", before: { commentId }, after: { commentId: null } }
      : { position: item.position, outcome: "SKIPPED", code: "NO_CHANGE", message: "The comment is already gone." };
  });
}

async function restoreImages(chunk: ChunkContext<RollbackParams>): Promise<ItemResult[]> {
  const tickets = await lockTickets(chunk.tx, chunk.tenantId, chunk.items.map((i) => i.targetId), chunk.dryRun);
  const results: ItemResult[] = [];
  const restoring: { position: number; id: string; current: TicketImage; target: TicketImage }[] = [];
  for (const item of chunk.items) {
    const ticket = tickets.get(item.targetId);
    const left = item.planned?.before as TicketImage | undefined;
    const target = item.planned?.after as TicketImage | undefined;
    if (!ticket) {
      results.push({ position: item.position, outcome: "FAILED", code: "NOT_FOUND", message: "No such ticket." });
      continue;
    }
    const current = ticketImage(ticket);
    if (!left || !target) {
      results.push({ position: item.position, outcome: "FAILED", code: "INTERNAL", message: "No image to restore." });
    } else if (!sameFields(current, left) && !chunk.params.force) {
      const changed = FIELDS.filter((f) => current[f] !== left[f]);
      results.push({
        position: item.position,
        outcome: "SKIPPED",
        code: "CONFLICT",
        message: `Changed since the operation (${changed.join(", ")}); not overwritten. ` +
          "Roll back with force to overwrite.",
        before: current,
        after: left,
      });
    } else if (sameFields(current, target)) {
      results.push({
        position: item.position,
        outcome: "SKIPPED",
        code: "NO_CHANGE",
        message: "Already in the state to restore.",
        before: current,
      });
    } else {
      restoring.push({ position: item.position, id: item.targetId, current, target });
    }
  }
  if (restoring.length === 0) return results;
  const after = chunk.dryRun
    ? new Map(restoring.map((r) => [r.id, { ...r.target, version: r.current.version + 1 }]))
    : await restoreRows(chunk, restoring.map((r) => ({ id: r.id, image: r.target })));
  for (const r of restoring) {
    results.push({ position: r.position, outcome: "SUCCEEDED", before: r.current, after: after.get(r.id) });
  }
  return results;
}

/** One UPDATE restoring each row's own values. */
async function restoreRows(
  chunk: ChunkContext<RollbackParams>,
  rows: { id: string; image: TicketImage }[],
): Promise<Map<string, TicketImage>> {
  const column = <K extends keyof TicketImage>(key: K) => rows.map((r) => r.image[key]);
  const { rows: updated } = await sql<Parameters<typeof ticketImage>[0] & { id: string }>`
    UPDATE tickets AS t SET
      status = v.status, priority = v.priority, category = v.category,
      assignee_id = v.assignee_id, deleted_at = v.deleted_at,
      version = t.version + 1, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${column("status")}::text[], ${column("priority")}::text[],
                ${column("category")}::text[], ${column("assigneeId")}::uuid[], ${column("deletedAt")}::timestamptz[])
      AS v(id, status, priority, category, assignee_id, deleted_at)
    WHERE t.id = v.id AND t.tenant_id = ${chunk.tenantId}
    RETURNING t.id, t.status, t.priority, t.category, t.assignee_id, t.deleted_at, t.version`.execute(chunk.tx);
  return new Map(updated.map((row) => [String(row.id), ticketImage(row)]));
}

export const rollback: BulkAction<RollbackParams> = {
  type: "ROLLBACK",
  requiredRole: "AGENT",
  parseParams: (raw) => {
    const value = raw as Partial<RollbackParams> | null;
    return Promise.resolve({ parentActionType: String(value?.parentActionType ?? ""), force: value?.force === true });
  },
  apply: (chunk) => chunk.params.parentActionType === "ADD_COMMENT" ? removeComments(chunk) : restoreImages(chunk),
};
