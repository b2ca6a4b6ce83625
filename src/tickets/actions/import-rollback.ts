/**
 * The ROLLBACK of an IMPORT_TICKETS operation (rollback.ts dispatches here). Its items plan
 * before = the ticket as the import left it, after = the ticket before the import (null when
 * the import created it). Per chunk: lock the tickets; a ticket whose imported fields (or
 * deletion) differ from what the import left, or a created ticket that got comments since, was
 * changed since: CONFLICT (skipped) unless force. Then one DELETE for the created tickets (and,
 * forced, their comments) and one UPDATE ... FROM unnest(...) restoring the updated ones.
 */
import { sql } from "kysely";
import type { ChunkContext, ItemResult, RollbackParams } from "../../bulk/action.ts";
import { IMPORTED_FIELDS, type ImportImage, importImage, lockImported } from "./import-image.ts";

interface Undo {
  position: number;
  id: string;
  current: ImportImage;
  /** null: delete the ticket (the import created it). */
  restore: ImportImage | null;
}

const changedSince = (current: ImportImage, left: ImportImage) =>
  [...IMPORTED_FIELDS, "deletedAt" as const].filter((f) => current[f] !== left[f]);

async function ticketsWithComments(chunk: ChunkContext<RollbackParams>, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await sql<{ ticket_id: string }>`SELECT DISTINCT ticket_id FROM ticket_comments
    WHERE tenant_id = ${chunk.tenantId} AND ticket_id = ANY(${ids}::bigint[])`.execute(chunk.tx);
  return new Set(rows.map((row) => String(row.ticket_id)));
}

export async function undoImport(chunk: ChunkContext<RollbackParams>): Promise<ItemResult[]> {
  const ids = chunk.items.map((i) => i.targetId);
  const tickets = await lockImported(chunk.tx, chunk.tenantId, ids, chunk.dryRun);
  const createdIds = chunk.items.filter((i) => i.planned?.after === null).map((i) => i.targetId);
  const commented = await ticketsWithComments(chunk, createdIds);
  const results: ItemResult[] = [];
  const undos: Undo[] = [];
  for (const item of chunk.items) {
    const row = tickets.get(item.targetId);
    const left = item.planned?.before as ImportImage | undefined;
    const restore = (item.planned?.after ?? null) as ImportImage | null;
    if (!row || !left) {
      results.push({ position: item.position, outcome: "SKIPPED", code: "NO_CHANGE", message: "The ticket is gone." });
      continue;
    }
    const current = importImage(row);
    const changes: string[] = changedSince(current, left);
    if (restore === null && commented.has(item.targetId)) changes.push("comments");
    if (changes.length > 0 && !chunk.params.force) {
      results.push({
        position: item.position,
        outcome: "SKIPPED",
        code: "CONFLICT",
        message: `Changed since the import (${changes.join(", ")}); not ${restore ? "restored" : "deleted"}. ` +
          "Roll back with force to overwrite.",
        before: current,
        after: left,
      });
      continue;
    }
    undos.push({ position: item.position, id: item.targetId, current, restore });
  }
  const deleting = undos.filter((u) => u.restore === null).map((u) => u.id);
  const restoring = undos.filter((u) => u.restore !== null);
  if (!chunk.dryRun && deleting.length > 0) {
    await sql`DELETE FROM ticket_comments WHERE tenant_id = ${chunk.tenantId} AND ticket_id = ANY(${deleting}::bigint[])`
      .execute(chunk.tx);
    await sql`DELETE FROM tickets WHERE tenant_id = ${chunk.tenantId} AND id = ANY(${deleting}::bigint[])`
      .execute(chunk.tx);
  }
  const restored = chunk.dryRun || restoring.length === 0
    ? new Map(
      restoring.map((u) => [u.id, { ...u.restore!, deletedAt: u.current.deletedAt, version: u.current.version + 1 }]),
    )
    : await restoreRows(chunk, restoring);
  for (const undo of undos) {
    results.push({
      position: undo.position,
      outcome: "SUCCEEDED",
      before: undo.current,
      after: undo.restore === null ? null : restored.get(undo.id),
    });
  }
  return results;
}

async function restoreRows(chunk: ChunkContext<RollbackParams>, rows: Undo[]): Promise<Map<string, ImportImage>> {
  const of = (field: keyof ImportImage) => rows.map((r) => r.restore![field]);
  const { rows: updated } = await sql<Parameters<typeof importImage>[0]>`
    UPDATE tickets AS t SET title = v.title, body = v.body, status = v.status, priority = v.priority,
      category = v.category, assignee_id = v.assignee_id, version = t.version + 1, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${of("title")}::text[], ${of("body")}::text[],
      ${of("status")}::text[], ${of("priority")}::text[], ${of("category")}::text[], ${of("assigneeId")}::uuid[])
      AS v(id, title, body, status, priority, category, assignee_id)
    WHERE t.id = v.id AND t.tenant_id = ${chunk.tenantId}
    RETURNING t.id, t.title, t.body, t.status, t.priority, t.category, t.assignee_id, t.external_id, t.deleted_at,
      t.version`.execute(chunk.tx);
  return new Map(updated.map((row) => [String(row.id), importImage(row)]));
}
