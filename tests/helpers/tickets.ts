/** Helpers for the ticket-domain tests: global ids, database rows, and the usual documents. */
import type { Db } from "../../src/db/database.ts";
import { encodeId } from "../../src/graphql/ids.ts";
import type { TicketRow } from "../../src/tickets/model.ts";

export const ticketId = (id: string | number) => encodeId("Ticket", id);
export const userId = (id: string) => encodeId("User", id);

/** The ticket's row as stored (null when absent): what "changes nothing" is checked against. */
export async function ticketRow(db: Db, id: string): Promise<TicketRow | null> {
  return (await db.selectFrom("tickets").selectAll().where("id", "=", id as never).executeTakeFirst() as
    | TicketRow
    | undefined) ?? null;
}

/** Database ids of a tenant's tickets, newest first (the API's order). */
export async function ticketIdsOf(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom("tickets").select("id").where("tenant_id", "=", tenantId).orderBy("id", "desc")
    .execute();
  return rows.map((r) => r.id);
}

export async function countRows(db: Db, table: "tickets" | "ticket_comments"): Promise<number> {
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
  return Number(row.n);
}

export const CREATE_TICKET = `mutation($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { id title status version } userErrors { code field message } }
}`;

export const UPDATE_TICKET = `mutation($input: UpdateTicketInput!) {
  updateTicket(input: $input) { ticket { id title status version } userErrors { code field message } }
}`;

export const ADD_COMMENT = `mutation($input: AddCommentInput!) {
  addComment(input: $input) { comment { id body } ticket { id } userErrors { code field message } }
}`;

export const TICKETS_PAGE = `query($first: Int, $after: String, $last: Int, $before: String, $filter: TicketFilter) {
  tickets(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    edges { cursor node { id title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;
