/** Reads and single-item writes of tickets and comments, always scoped to one tenant. */
import { type ExpressionBuilder, type Selectable, sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { Database, Role, TicketCommentsTable } from "../db/tables.ts";
import {
  canTransition,
  type TicketCategory,
  type TicketFilter,
  type TicketPriority,
  type TicketRow,
  type TicketStatus,
} from "./model.ts";
import { closedRefusal } from "./rules.ts";

type TicketsEb = ExpressionBuilder<Database, "tickets">;

/** The WHERE clause of a filter; every branch is served by a (tenant_id, column, id) index. */
export function ticketFilterWhere(tenantId: string, filter: TicketFilter) {
  return (eb: TicketsEb) => {
    const and = [eb("tickets.tenant_id", "=", tenantId)];
    if (!filter.includeDeleted) and.push(eb("tickets.deleted_at", "is", null));
    if (filter.status?.length) and.push(eb("tickets.status", "in", filter.status));
    if (filter.priority?.length) and.push(eb("tickets.priority", "in", filter.priority));
    if (filter.category?.length) and.push(eb("tickets.category", "in", filter.category));
    if (filter.assigneeId) and.push(eb("tickets.assignee_id", "=", filter.assigneeId));
    if (filter.unassigned) and.push(eb("tickets.assignee_id", "is", null));
    if (filter.titleContains) {
      const escaped = filter.titleContains.replace(/[\\%_]/g, (c) => `\\${c}`);
      and.push(eb("tickets.title", "ilike", `%${escaped}%`));
    }
    if (filter.createdAfter) and.push(eb("tickets.created_at", ">=", filter.createdAfter));
    if (filter.createdBefore) and.push(eb("tickets.created_at", "<", filter.createdBefore));
    return eb.and(and);
  };
}

export interface TicketPageArgs {
  /** Rows to return (the caller bounds it). */
  limit: number;
  /** Keyset position: ticket id strictly after (in page order) this one. */
  afterId?: string;
  /** Page order: newest first ("desc", the default) or oldest first ("asc", for `last/before`). */
  direction: "desc" | "asc";
}

/**
 * One keyset page, newest first:
 * `SELECT * FROM tickets WHERE tenant_id = $1 AND <filter> AND id < $after ORDER BY id DESC LIMIT $n`.
 * New tickets get higher ids, so concurrent inserts never shift a page that is being walked.
 */
export async function listTickets(
  db: Db,
  tenantId: string,
  filter: TicketFilter,
  page: TicketPageArgs,
): Promise<TicketRow[]> {
  let query = db.selectFrom("tickets").selectAll().where(ticketFilterWhere(tenantId, filter));
  if (page.afterId !== undefined) {
    query = query.where("id", page.direction === "desc" ? "<" : ">", page.afterId);
  }
  return await query.orderBy("id", page.direction).limit(page.limit).execute();
}

/**
 * How many tickets match, counted up to `cap` (a count over a big tenant reads every matching index entry:
 * capped, the worst case is bounded; the console shows "cap+" beyond it):
 * `SELECT count(*) FROM (SELECT 1 FROM tickets WHERE tenant_id = $1 AND <filter> LIMIT $cap) t`.
 */
export async function countTickets(db: Db, tenantId: string, filter: TicketFilter, cap: number): Promise<number> {
  const row = await db.selectFrom(
    db.selectFrom("tickets").select(sql<number>`1`.as("one")).where(ticketFilterWhere(tenantId, filter)).limit(cap)
      .as("matching"),
  ).select((eb) => eb.fn.countAll<string>().as("count")).executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function ticketsByIds(db: Db, tenantId: string, ids: readonly string[]): Promise<TicketRow[]> {
  if (ids.length === 0) return [];
  return await db.selectFrom("tickets").selectAll()
    .where("tenant_id", "=", tenantId).where("id", "in", [...ids]).execute();
}

/** The role of a user of the tenant; null when there is none (or it is another tenant's). */
export async function userRoleInTenant(db: Db, tenantId: string, userId: string): Promise<Role | null> {
  const row = await db.selectFrom("users").select("role").where("tenant_id", "=", tenantId)
    .where("id", "=", userId).executeTakeFirst();
  return row?.role ?? null;
}

export interface NewTicket {
  title: string;
  body?: string;
  priority?: TicketPriority;
  category?: TicketCategory;
  assigneeId?: string | null;
}

export async function createTicket(db: Db, tenantId: string, authorId: string, input: NewTicket): Promise<TicketRow> {
  return await db.insertInto("tickets").values({
    tenant_id: tenantId,
    title: input.title,
    body: input.body ?? "",
    priority: input.priority ?? "NORMAL",
    category: input.category ?? "GENERAL",
    assignee_id: input.assigneeId ?? null,
    created_by: authorId,
  }).returningAll().executeTakeFirstOrThrow();
}

export interface TicketPatch {
  title?: string;
  body?: string;
  status?: TicketStatus;
  priority?: TicketPriority;
  category?: TicketCategory;
  /** null unassigns; undefined leaves it. */
  assigneeId?: string | null;
}

export type UpdateTicketResult =
  | { ok: true; ticket: TicketRow }
  | { ok: false; code: "NOT_FOUND" | "INVALID_TRANSITION" | "VERSION_CONFLICT" | "FORBIDDEN"; message: string };

/** Applies a patch under a row lock, checking the status transition and the expected version. */
export async function updateTicket(
  db: Db,
  tenantId: string,
  id: string,
  patch: TicketPatch,
  expectedVersion?: number,
): Promise<UpdateTicketResult> {
  return await db.transaction().execute(async (tx) => {
    const current = await tx.selectFrom("tickets").selectAll().where("tenant_id", "=", tenantId)
      .where("id", "=", id).where("deleted_at", "is", null).forUpdate().executeTakeFirst();
    if (!current) return { ok: false, code: "NOT_FOUND", message: "No ticket with this id." };
    if (expectedVersion !== undefined && current.version !== expectedVersion) {
      return {
        ok: false,
        code: "VERSION_CONFLICT",
        message: `The ticket is at version ${current.version}, not ${expectedVersion}.`,
      };
    }
    const changesStatus = patch.status !== undefined && patch.status !== current.status;
    const closed = closedRefusal(current.status, changesStatus);
    if (closed) return { ok: false, code: "FORBIDDEN", message: closed };
    if (changesStatus && !canTransition(current.status, patch.status!)) {
      return {
        ok: false,
        code: "INVALID_TRANSITION",
        message: `A ticket cannot go from ${current.status} to ${patch.status}.`,
      };
    }
    const ticket = await tx.updateTable("tickets").set({
      ...(patch.title !== undefined && { title: patch.title }),
      ...(patch.body !== undefined && { body: patch.body }),
      ...(patch.status !== undefined && { status: patch.status }),
      ...(patch.priority !== undefined && { priority: patch.priority }),
      ...(patch.category !== undefined && { category: patch.category }),
      ...(patch.assigneeId !== undefined && { assignee_id: patch.assigneeId }),
      version: sql`version + 1`,
      updated_at: sql`now()`,
    }).where("id", "=", id).returningAll().executeTakeFirstOrThrow();
    return { ok: true, ticket };
  });
}

/** A ticket_comments row as Kysely selects it. */
export type CommentRow = Selectable<TicketCommentsTable>;

export type AddCommentResult =
  | { ok: true; comment: CommentRow }
  | { ok: false; code: "NOT_FOUND" | "FORBIDDEN"; message: string };

/**
 * Adds a comment to a live ticket of the tenant. The ticket row is share-locked, so it cannot be closed
 * (or deleted) between the check and the insert.
 */
export async function addComment(
  db: Db,
  tenantId: string,
  ticketId: string,
  authorId: string,
  body: string,
): Promise<AddCommentResult> {
  return await db.transaction().execute(async (tx) => {
    const ticket = await tx.selectFrom("tickets").select("status").where("tenant_id", "=", tenantId)
      .where("id", "=", ticketId).where("deleted_at", "is", null).forShare().executeTakeFirst();
    if (!ticket) return { ok: false, code: "NOT_FOUND", message: "No ticket with this id." };
    const closed = closedRefusal(ticket.status, false);
    if (closed) return { ok: false, code: "FORBIDDEN", message: closed };
    const comment = await tx.insertInto("ticket_comments")
      .values({ tenant_id: tenantId, ticket_id: ticketId, author_id: authorId, body })
      .returningAll().executeTakeFirstOrThrow();
    return { ok: true, comment };
  });
}
