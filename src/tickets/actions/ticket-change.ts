/**
 * The shared chunk runner of the field-changing ticket actions. Per chunk:
 *   1. SELECT ... FROM tickets WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE
 *   2. decide each item in memory (NOT_FOUND, DELETED, NO_CHANGE, the action's own rules)
 *   3. UPDATE tickets SET <patch>, version = version + 1, updated_at = now()
 *      WHERE id = ANY($changed) RETURNING <after-image columns>
 * Locking in id order means two operations over overlapping tickets never deadlock.
 */
import { sql } from "kysely";
import type { ChunkContext, ItemResult, Tx } from "../../bulk/action.ts";
import type { TicketItemCode, TicketRow } from "../model.ts";
import { closedRefusal } from "../rules.ts";
import { type TicketImage, ticketImage } from "./ticket-image.ts";

export type Decision =
  | { change: true }
  | { change: false; outcome: "FAILED" | "SKIPPED"; code: TicketItemCode; message: string };

export const noChange = (message: string): Decision => ({
  change: false,
  outcome: "SKIPPED",
  code: "NO_CHANGE",
  message,
});
export const fail = (code: TicketItemCode, message: string): Decision => ({
  change: false,
  outcome: "FAILED",
  code,
  message,
});

/** Closed tickets are read-only except for reopening (and admin deletion): rules.ts closedRefusal. */
export const closedIsReadOnly = (ticket: LockedTicket): Decision | null => {
  const refusal = closedRefusal(ticket.status, false);
  return refusal ? fail("FORBIDDEN", refusal) : null;
};

export interface TicketPatchColumns {
  status?: string;
  priority?: string;
  category?: string;
  assignee_id?: string | null;
  /** "now" soft-deletes, null restores. */
  deleted_at?: "now" | null;
}

/** The columns actions decide on (not title or body: a chunk never carries 2000 bodies). */
const DECISION_COLUMNS = ["id", "status", "priority", "category", "assignee_id", "deleted_at", "version"] as const;
export type LockedTicket = Pick<TicketRow, typeof DECISION_COLUMNS[number]>;

/** The chunk's tickets of the tenant, row-locked in id order (a dry run reads without locking). */
export async function lockTickets(
  tx: Tx,
  tenantId: string,
  ids: string[],
  dryRun = false,
): Promise<Map<string, LockedTicket>> {
  const query = tx.selectFrom("tickets").select(DECISION_COLUMNS).where("tenant_id", "=", tenantId)
    .where(sql<boolean>`id = ANY(${ids}::bigint[])`).orderBy("id");
  const rows = await (dryRun ? query : query.forUpdate()).execute() as LockedTicket[];
  return new Map(rows.map((row) => [String(row.id), row]));
}

export interface ChangeOptions {
  /** Whether a soft-deleted ticket can be acted on (restore and delete handle it themselves). */
  acceptsDeleted?: boolean;
}

/** Runs a uniform patch over a chunk, deciding per item with `decide`. */
export async function applyTicketChange(
  chunk: ChunkContext<unknown>,
  patch: TicketPatchColumns,
  decide: (ticket: LockedTicket) => Decision,
  options: ChangeOptions = {},
): Promise<ItemResult[]> {
  const tickets = await lockTickets(chunk.tx, chunk.tenantId, chunk.items.map((i) => i.targetId), chunk.dryRun);
  const results: ItemResult[] = [];
  const changing: { position: number; ticket: LockedTicket }[] = [];
  for (const item of chunk.items) {
    const ticket = tickets.get(item.targetId);
    if (!ticket) {
      results.push({ position: item.position, outcome: "FAILED", code: "NOT_FOUND", message: "No such ticket." });
      continue;
    }
    const decision = ticket.deleted_at && !options.acceptsDeleted
      ? fail("DELETED", "The ticket is deleted.")
      : decide(ticket);
    if (decision.change) {
      changing.push({ position: item.position, ticket });
    } else {
      results.push({
        position: item.position,
        outcome: decision.outcome,
        code: decision.code,
        message: decision.message,
        before: ticketImage(ticket),
      });
    }
  }
  if (changing.length > 0) {
    const after = chunk.dryRun
      ? new Map(changing.map(({ ticket }) => [String(ticket.id), predictImage(ticket, patch)]))
      : await updateTickets(chunk.tx, changing.map((c) => c.ticket.id), patch);
    for (const { position, ticket } of changing) {
      results.push({
        position,
        outcome: "SUCCEEDED",
        before: ticketImage(ticket),
        after: after.get(String(ticket.id)),
      });
    }
  }
  return results;
}

/** The after-image a patch would produce (previews). */
function predictImage(ticket: LockedTicket, patch: TicketPatchColumns): TicketImage {
  const { deleted_at, ...columns } = patch;
  return ticketImage({
    ...ticket,
    ...columns,
    deleted_at: deleted_at === undefined ? ticket.deleted_at : deleted_at === "now" ? new Date() : null,
    version: ticket.version + 1,
  });
}

async function updateTickets(tx: Tx, ids: string[], patch: TicketPatchColumns): Promise<Map<string, TicketImage>> {
  const { deleted_at, ...columns } = patch;
  const rows = await tx.updateTable("tickets")
    .set({
      ...columns,
      ...(deleted_at !== undefined && { deleted_at: deleted_at === "now" ? sql`now()` : null }),
      version: sql`version + 1`,
      updated_at: sql`now()`,
    })
    .where(sql<boolean>`id = ANY(${ids}::bigint[])`)
    .returning(["id", "status", "priority", "category", "assignee_id", "deleted_at", "version"])
    .execute();
  return new Map(rows.map((row) => [String(row.id), ticketImage(row)]));
}
