/**
 * PURGE (ADMIN only): removes tickets and their comments for good, soft-deleted and closed
 * ones included. Per chunk, set-based:
 *   1. SELECT ... FROM tickets WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE
 *   2. WITH c AS (DELETE FROM ticket_comments WHERE ticket_id = ANY($locked) RETURNING *)
 *      SELECT ticket_id, jsonb_agg(to_jsonb(c) ORDER BY id) FROM c GROUP BY ticket_id
 *   3. DELETE FROM tickets t WHERE tenant_id = $1 AND id = ANY($locked) RETURNING to_jsonb(t)
 * (ticket_comments_ticket_idx and the primary key; no other table references tickets).
 * Each SUCCEEDED item keeps, as its before-image, the whole ticket row and its comments as
 * they were deleted (PurgedImage), which is what a rollback re-creates. The lock comes first,
 * in a statement of its own: a comment being added holds FOR KEY SHARE on its ticket, so the
 * lock waits for it, and the deletes (later statements, later snapshots) see it; with the
 * images read in the locking statement, a comment committed during that wait was deleted
 * without an image. While the chunk holds the lock, no comment can be added (its foreign-key
 * check waits, then finds the ticket gone).
 *
 * The rollback (restorePurged, run by the ROLLBACK action for PURGE parents) re-inserts the
 * rows as they were: same ids (OVERRIDING SYSTEM VALUE: ids come from identity sequences, so
 * a purged id is below the sequence and is never handed out again), fields, version,
 * timestamps and comments (comment ids and bulk_operation_id too, so the one comment per
 * ticket per operation key holds again). An id is "reused" only when something re-created a
 * row with it explicitly since; the ticket is then a CONFLICT, as it is when another ticket
 * now holds one of its unique keys (e.g. an externalId re-imported since): ON CONFLICT DO
 * NOTHING without a target covers every unique index. `force` changes nothing here: there is
 * no field to overwrite, only another row that would be destroyed.
 */
import { sql } from "kysely";
import type { BulkAction, ChunkContext, ItemResult, RollbackParams, Tx } from "../../bulk/action.ts";
import { parseReason, reasonGraphQL, type ReasonParams } from "./soft-delete.ts";
import { lockTickets } from "./ticket-change.ts";
import { ticketImage } from "./ticket-image.ts";

type Row = Record<string, unknown>;

/**
 * A purged ticket in the ledger: every column of its row and of each of its comments
 * (oldest first), as to_jsonb wrote them (timestamps to the microsecond), bigint ids as
 * text (JSON numbers would lose digits past 2^53 in JavaScript).
 */
export interface PurgedImage {
  ticket: Row & { id: string };
  comments: (Row & { id: string })[];
}

/** to_jsonb of a row with its bigint columns as text. */
const ticketJson = sql`to_jsonb(t) || jsonb_build_object('id', t.id::text)`;
const commentJson = sql`to_jsonb(c) || jsonb_build_object('id', c.id::text, 'ticket_id', c.ticket_id::text)`;

const notFound = (position: number): ItemResult => ({
  position,
  outcome: "FAILED",
  code: "NOT_FOUND",
  message: "No such ticket.",
});

/** Preview: what each ticket is and how many comments would go, without bodies (a preview holds every item). */
async function predict(chunk: ChunkContext<ReasonParams>): Promise<ItemResult[]> {
  const tickets = await lockTickets(chunk.tx, chunk.tenantId, chunk.items.map((i) => i.targetId), true);
  const { rows } = await sql<{ ticket_id: string; n: number }>`
    SELECT ticket_id::text AS ticket_id, count(*)::int AS n FROM ticket_comments
    WHERE ticket_id = ANY(${[...tickets.keys()]}::bigint[]) GROUP BY ticket_id`.execute(chunk.tx);
  const comments = new Map(rows.map((r) => [r.ticket_id, r.n]));
  return chunk.items.map((item) => {
    const ticket = tickets.get(item.targetId);
    if (!ticket) return notFound(item.position);
    return {
      position: item.position,
      outcome: "SUCCEEDED",
      before: { ...ticketImage(ticket), comments: comments.get(item.targetId) ?? 0 },
      after: null,
    };
  });
}

async function purge(chunk: ChunkContext<ReasonParams>): Promise<ItemResult[]> {
  const { tx, tenantId } = chunk;
  const locked = [...(await lockTickets(tx, tenantId, chunk.items.map((i) => i.targetId))).keys()];
  const images = new Map<string, PurgedImage>();
  if (locked.length > 0) {
    const { rows: comments } = await sql<{ ticket_id: string; comments: PurgedImage["comments"] }>`
      WITH c AS (DELETE FROM ticket_comments WHERE ticket_id = ANY(${locked}::bigint[]) RETURNING *)
      SELECT c.ticket_id::text AS ticket_id, jsonb_agg(${commentJson} ORDER BY c.id) AS comments
      FROM c GROUP BY c.ticket_id`.execute(tx);
    const byTicket = new Map(comments.map((r) => [r.ticket_id, r.comments]));
    const { rows: tickets } = await sql<{ ticket: PurgedImage["ticket"] }>`
      DELETE FROM tickets AS t WHERE t.tenant_id = ${tenantId} AND t.id = ANY(${locked}::bigint[])
      RETURNING ${ticketJson} AS ticket`.execute(tx);
    for (const { ticket } of tickets) images.set(ticket.id, { ticket, comments: byTicket.get(ticket.id) ?? [] });
  }
  return chunk.items.map((item) => {
    const image = images.get(item.targetId);
    return image
      ? { position: item.position, outcome: "SUCCEEDED", before: image, after: null }
      : notFound(item.position);
  });
}

export const purgeTickets: BulkAction<ReasonParams> = {
  type: "PURGE",
  requiredRole: "ADMIN",
  filterNeedsPreview: true,
  graphql: reasonGraphQL(
    "Permanent delete of tickets and their comments (ADMIN only); soft-deleted tickets too. Over a filter it needs " +
      "a previewToken. Rollback re-creates them as they were, within the rollback window.",
    "PurgeActionInput",
  ),
  parseParams: parseReason,
  apply: (chunk) => chunk.dryRun ? predict(chunk) : purge(chunk),
};

// ---- rollback ------------------------------------------------------------------------

const conflict = (position: number, why: string): ItemResult => ({
  position,
  outcome: "SKIPPED",
  code: "CONFLICT",
  message: `${why}; not re-created (force does not apply: it would destroy that row).`,
});

/**
 * The images' ids that exist again, in one statement:
 *   SELECT 'ticket', id FROM tickets WHERE id = ANY($tickets)
 *   UNION ALL SELECT 'comment', id FROM ticket_comments WHERE id = ANY($comments)
 * Not tenant-scoped: identity ids are unique across tenants, and a taken id cannot be re-used.
 */
async function takenIds(tx: Tx, images: PurgedImage[]): Promise<{ tickets: Set<string>; comments: Set<string> }> {
  const { rows } = await sql<{ kind: "ticket" | "comment"; id: string }>`
    SELECT 'ticket' AS kind, id::text AS id FROM tickets
    WHERE id = ANY(${images.map((i) => i.ticket.id)}::bigint[])
    UNION ALL
    SELECT 'comment', id::text FROM ticket_comments
    WHERE id = ANY(${images.flatMap((i) => i.comments.map((c) => c.id))}::bigint[])`.execute(tx);
  const ids = (kind: string) => new Set(rows.filter((r) => r.kind === kind).map((r) => r.id));
  return { tickets: ids("ticket"), comments: ids("comment") };
}

/**
 * Re-inserts the tickets, then their comments, as they were; returns the ids inserted:
 *   INSERT INTO tickets OVERRIDING SYSTEM VALUE
 *   SELECT * FROM jsonb_populate_recordset(NULL::tickets, $images) ORDER BY id
 *   ON CONFLICT DO NOTHING RETURNING id
 *   INSERT INTO ticket_comments OVERRIDING SYSTEM VALUE
 *   SELECT * FROM jsonb_populate_recordset(NULL::ticket_comments, $comments) ORDER BY id
 * Every column comes from the image, so a column a later migration adds to tickets (and
 * holds at purge time) is restored without a change here; the tenant is the operation's.
 */
async function reinsert(chunk: ChunkContext<RollbackParams>, images: PurgedImage[]): Promise<Set<string>> {
  const ofTenant = (rows: Row[]) => JSON.stringify(rows.map((row) => ({ ...row, tenant_id: chunk.tenantId })));
  const { rows } = await sql<{ id: string }>`
    INSERT INTO tickets OVERRIDING SYSTEM VALUE
    SELECT * FROM jsonb_populate_recordset(NULL::tickets, ${ofTenant(images.map((i) => i.ticket))}::jsonb) ORDER BY id
    ON CONFLICT DO NOTHING RETURNING id::text AS id`.execute(chunk.tx);
  const inserted = new Set(rows.map((r) => r.id));
  const comments = images.filter((i) => inserted.has(i.ticket.id)).flatMap((i) => i.comments);
  if (comments.length > 0) {
    await sql`
      INSERT INTO ticket_comments OVERRIDING SYSTEM VALUE
      SELECT * FROM jsonb_populate_recordset(NULL::ticket_comments, ${ofTenant(comments)}::jsonb) ORDER BY id`
      .execute(chunk.tx);
  }
  return inserted;
}

/** ROLLBACK of a PURGE: each item's planned `after` is the PurgedImage its purge kept. */
export async function restorePurged(chunk: ChunkContext<RollbackParams>): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  const restoring: { position: number; image: PurgedImage }[] = [];
  for (const item of chunk.items) {
    // A cast kept: the purge wrote this image itself (its ledger's before), and the id check below catches a
    // mismatch.
    const image = item.planned?.after as PurgedImage | null | undefined;
    if (image?.ticket?.id === item.targetId) restoring.push({ position: item.position, image });
    else {results.push({
        position: item.position,
        outcome: "FAILED",
        code: "INTERNAL",
        message: "No image to restore.",
      });}
  }
  if (restoring.length === 0) return results;
  const taken = await takenIds(chunk.tx, restoring.map((r) => r.image));
  const free = restoring.filter(({ position, image }) => {
    const why = taken.tickets.has(image.ticket.id)
      ? `Ticket id ${image.ticket.id} exists again`
      : image.comments.some((c) => taken.comments.has(c.id))
      ? "One of its comment ids exists again"
      : null;
    if (why) results.push(conflict(position, why));
    return !why;
  });
  const inserted = chunk.dryRun
    ? new Set(free.map((r) => r.image.ticket.id))
    : free.length > 0
    ? await reinsert(chunk, free.map((r) => r.image))
    : new Set<string>();
  for (const { position, image } of free) {
    results.push(
      inserted.has(image.ticket.id)
        ? { position, outcome: "SUCCEEDED", before: null, after: image }
        : conflict(position, "Another ticket holds one of its unique keys (re-imported since?)"),
    );
  }
  return results;
}
