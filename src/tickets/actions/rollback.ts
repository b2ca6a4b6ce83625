/**
 * ROLLBACK: undoes a parent operation item by item from the images its items planned at
 * start (before = the state the parent left, after = the state to restore; see
 * Targets.parentItems with swapImages). Per chunk:
 * - ADD_COMMENT parents: DELETE FROM ticket_comments WHERE id = ANY($ids) (one statement);
 *   the ticket's fields are never touched.
 * - PURGE parents: the purged rows re-created as they were (purge.ts restorePurged).
 * - field-changing parents: only the fields the parent changed on that item (those that
 *   differ between its before- and after-image) are compared and restored; every other
 *   field stays as it is now. So deleted_at is only ever touched by a rollback of DELETE
 *   or RESTORE, and a rollback of SET_STATUS neither reverts a priority raised since nor
 *   un-deletes a ticket deleted since. Lock the tickets; a ticket whose changed fields are
 *   no longer what the parent left was changed since: CONFLICT (skipped, both states kept
 *   in the ledger) unless `force`, which overwrites those fields (and only those); the
 *   rest: one UPDATE ... FROM unnest(...) setting each row's own fields. Fields, not the
 *   version, decide: a later operation that was itself rolled back leaves the fields as
 *   this parent left them, and undoing newest-first then works without force.
 * - IMPORT_TICKETS parents: import-rollback.ts (deletes the created tickets, restores the
 *   updated ones).
 * Version and updated_at move forward: a rollback is a change like any other.
 */
import { type RawBuilder, sql } from "kysely";
import type { BulkAction, ChunkContext, ItemResult, RollbackParams } from "../../bulk/action.ts";
import { restorePurged } from "./purge.ts";
import { undoImport } from "./import-rollback.ts";
import { lockTickets } from "./ticket-change.ts";
import { type TicketImage, ticketImage } from "./ticket-image.ts";
import { fieldOf, hasKey, stringField } from "../../guards.ts";

/** The image fields a rollback may restore, with their column and SQL array type. */
const FIELDS = {
  status: { column: "status", type: "text" },
  priority: { column: "priority", type: "text" },
  category: { column: "category", type: "text" },
  assigneeId: { column: "assignee_id", type: "uuid" },
  deletedAt: { column: "deleted_at", type: "timestamptz" },
} as const;
type Field = keyof typeof FIELDS;
const FIELD_NAMES = Object.keys(FIELDS).filter((name) => hasKey(FIELDS, name));

/** The fields the parent changed on this item: those its before- and after-image disagree on. */
const changedFields = (left: TicketImage, target: TicketImage): Field[] =>
  FIELD_NAMES.filter((f) => left[f] !== target[f]);

async function removeComments(chunk: ChunkContext<RollbackParams>): Promise<ItemResult[]> {
  const commentIds = chunk.items.map((item) => stringField(item.planned?.before, "commentId"));
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

interface Restoring {
  position: number;
  id: string;
  current: TicketImage;
  /** The current image with the parent's fields set back: what the row becomes. */
  restored: TicketImage;
  fields: Field[];
}

async function restoreImages(chunk: ChunkContext<RollbackParams>): Promise<ItemResult[]> {
  const tickets = await lockTickets(chunk.tx, chunk.tenantId, chunk.items.map((i) => i.targetId), chunk.dryRun);
  const results: ItemResult[] = [];
  const restoring: Restoring[] = [];
  for (const item of chunk.items) {
    const ticket = tickets.get(item.targetId);
    // Casts kept: the images were planned at start from the parent's ledger, which this domain's actions
    // wrote as TicketImages (ticket-image.ts); checking each field of each item again would only re-read them.
    const left = item.planned?.before as TicketImage | undefined;
    const target = item.planned?.after as TicketImage | undefined;
    if (!ticket) {
      results.push({ position: item.position, outcome: "FAILED", code: "NOT_FOUND", message: "No such ticket." });
      continue;
    }
    const current = ticketImage(ticket);
    if (!left || !target) {
      results.push({ position: item.position, outcome: "FAILED", code: "INTERNAL", message: "No image to restore." });
      continue;
    }
    const fields = changedFields(left, target);
    const changedSince = fields.filter((f) => current[f] !== left[f]);
    if (changedSince.length > 0 && !chunk.params.force) {
      results.push({
        position: item.position,
        outcome: "SKIPPED",
        code: "CONFLICT",
        message: `Changed since the operation (${changedSince.join(", ")}); not overwritten. ` +
          "Roll back with force to overwrite.",
        before: current,
        after: left,
      });
    } else if (fields.every((f) => current[f] === target[f])) {
      results.push({
        position: item.position,
        outcome: "SKIPPED",
        code: "NO_CHANGE",
        message: "Already in the state to restore.",
        before: current,
      });
    } else {
      const restored = { ...current, ...Object.fromEntries(fields.map((f) => [f, target[f]])) };
      restoring.push({ position: item.position, id: item.targetId, current, restored, fields });
    }
  }
  if (restoring.length === 0) return results;
  const after = chunk.dryRun
    ? new Map(restoring.map((r) => [r.id, { ...r.restored, version: r.current.version + 1 }]))
    : await restoreRows(chunk, restoring);
  for (const r of restoring) {
    results.push({ position: r.position, outcome: "SUCCEEDED", before: r.current, after: after.get(r.id) });
  }
  return results;
}

/**
 * One UPDATE for the chunk: each row gets its own values, and a per-field flag says
 * whether the parent changed that field on that row (otherwise the column keeps its value):
 *   UPDATE tickets t SET status = CASE WHEN v.set_status THEN v.status ELSE t.status END, ...
 *   FROM unnest($ids, $status, $set_status, ...) v WHERE t.id = v.id
 */
async function restoreRows(
  chunk: ChunkContext<RollbackParams>,
  rows: Restoring[],
): Promise<Map<string, TicketImage>> {
  const values: RawBuilder<unknown>[] = [sql`${rows.map((r) => r.id)}::bigint[]`];
  const names = ["id"];
  const sets: RawBuilder<unknown>[] = [];
  for (const field of FIELD_NAMES) {
    const { column, type } = FIELDS[field];
    values.push(sql`${rows.map((r) => r.restored[field])}::${sql.raw(type)}[]`);
    values.push(sql`${rows.map((r) => r.fields.includes(field))}::boolean[]`);
    names.push(column, `set_${column}`);
    sets.push(sql`${sql.ref(column)} = CASE WHEN v.${sql.ref(`set_${column}`)} THEN v.${sql.ref(column)}
      ELSE t.${sql.ref(column)} END`);
  }
  const { rows: updated } = await sql<Parameters<typeof ticketImage>[0] & { id: string }>`
    UPDATE tickets AS t SET ${sql.join(sets)}, version = t.version + 1, updated_at = now()
    FROM unnest(${sql.join(values)}) AS v(${sql.join(names.map((n) => sql.ref(n)))})
    WHERE t.id = v.id AND t.tenant_id = ${chunk.tenantId}
    RETURNING t.id, t.status, t.priority, t.category, t.assignee_id, t.deleted_at, t.version`.execute(chunk.tx);
  return new Map(updated.map((row) => [String(row.id), ticketImage(row)]));
}

export const rollback: BulkAction<RollbackParams> = {
  type: "ROLLBACK",
  requiredRole: "AGENT",
  graphql: {
    output: {
      fields: {
        parentActionType: { type: "BulkActionType", description: "The action of the operation being undone." },
        force: {
          type: "Boolean",
          description: "Overwrites tickets changed since the parent (else they end CONFLICT).",
        },
      },
    },
  },
  parseParams: (raw) => {
    return Promise.resolve({
      parentActionType: String(fieldOf(raw, "parentActionType") ?? ""),
      force: fieldOf(raw, "force") === true,
    });
  },
  apply: (chunk) => {
    if (chunk.params.parentActionType === "ADD_COMMENT") return removeComments(chunk);
    if (chunk.params.parentActionType === "PURGE") return restorePurged(chunk);
    if (chunk.params.parentActionType === "IMPORT_TICKETS") return undoImport(chunk);
    return restoreImages(chunk);
  },
};
