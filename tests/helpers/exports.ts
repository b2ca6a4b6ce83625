/**
 * Bulk export tests' helpers: start an export through GraphQL, wait for it, download its
 * file over real HTTP, and read the tickets it should hold straight from the database.
 */
import { expect } from "expect";
import type { Db } from "../../src/db/database.ts";
import { finished, waitFor } from "./bulk.ts";
import { gql } from "./graphql.ts";
import type { TestServer } from "./server.ts";

export const START_EXPORT = `mutation($input: StartBulkExportInput!) {
  startBulkExport(input: $input) {
    bulkOperation { id status actionType actionKind }
    userErrors { code field message }
  }
}`;

export const EXPORT_OF = `query($id: ID!) {
  bulkOperation(id: $id) {
    id status counts { total succeeded failed }
    export { format compression state rows bytes url expiresAt removedAt fields includeComments }
  }
}`;

/** Starts an export as `token`; returns the operation's global id (fails on userErrors). */
export async function startExport(server: TestServer, token: string, input: Record<string, unknown>): Promise<string> {
  const result = await gql(server.graphqlUrl, token, START_EXPORT, { input });
  expect(result.errors).toBeUndefined();
  expect(result.data.startBulkExport.userErrors).toEqual([]);
  expect(result.data.startBulkExport.bulkOperation.actionKind).toBe("EXPORT");
  return result.data.startBulkExport.bulkOperation.id;
}

/** The operation's uuid from its global id. */
export const uuidOf = (globalId: string) => atob(globalId.replace(/-/g, "+").replace(/_/g, "/")).split(":")[1];

export async function waitExported(server: TestServer, globalId: string, timeoutMs = 60_000) {
  return await waitFor(server.db, uuidOf(globalId), finished, timeoutMs);
}

export async function exportOf(server: TestServer, token: string, globalId: string) {
  const result = await gql(server.graphqlUrl, token, EXPORT_OF, { id: globalId });
  expect(result.errors).toBeUndefined();
  return result.data.bulkOperation;
}

export function download(server: TestServer, token: string, globalId: string, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/bulk-operations/${globalId}/export`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
}

/** A download's whole body; checks that Content-Length matches what arrived. */
export async function downloadBytes(server: TestServer, token: string, globalId: string): Promise<Uint8Array> {
  const response = await download(server, token, globalId);
  expect(response.status).toBe(200);
  const bytes = new Uint8Array(await response.arrayBuffer());
  expect(Number(response.headers.get("content-length"))).toBe(bytes.length);
  return bytes;
}

export interface ExpectedTicket {
  id: string;
  title: string;
  body: string;
  status: string;
  priority: string;
  category: string;
  assigneeId: string | null;
  createdBy: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  comments: { authorId: string; body: string }[];
}

/** The tickets as the database holds them now, in the order of `ids`, with their comments oldest first. */
export async function ticketsInOrder(db: Db, ids: string[]): Promise<ExpectedTicket[]> {
  const rows = await db.selectFrom("tickets").selectAll().where("id", "in", ids).execute();
  const comments = await db.selectFrom("ticket_comments").select(["ticket_id", "author_id", "body"])
    .where("ticket_id", "in", ids).orderBy("id").execute();
  const byId = new Map(rows.map((row) => [String(row.id), row]));
  return ids.map((id) => {
    const row = byId.get(id)!;
    return {
      id,
      title: row.title,
      body: row.body,
      status: row.status,
      priority: row.priority,
      category: row.category,
      assigneeId: row.assignee_id,
      createdBy: row.created_by,
      version: row.version,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
      deletedAt: row.deleted_at ? new Date(row.deleted_at) : null,
      comments: comments.filter((c) => String(c.ticket_id) === id).map((c) => ({
        authorId: c.author_id,
        body: c.body,
      })),
    };
  });
}

/** An exported record (all strings or null, numbers as numbers) against the database's ticket. */
export function expectRecord(record: Record<string, unknown>, ticket: ExpectedTicket): void {
  const time = (value: unknown) => value === null || value === "" ? null : new Date(String(value)).getTime();
  expect({
    id: String(record.id),
    title: record.title,
    body: record.body,
    status: record.status,
    priority: record.priority,
    category: record.category,
    assigneeId: record.assigneeId === "" ? null : record.assigneeId,
    createdBy: record.createdBy === "" ? null : record.createdBy,
    version: Number(record.version),
    createdAt: time(record.createdAt),
    updatedAt: time(record.updatedAt),
    deletedAt: time(record.deletedAt),
  }).toEqual({
    id: ticket.id,
    title: ticket.title,
    body: ticket.body,
    status: ticket.status,
    priority: ticket.priority,
    category: ticket.category,
    assigneeId: ticket.assigneeId,
    createdBy: ticket.createdBy,
    version: ticket.version,
    createdAt: ticket.createdAt.getTime(),
    updatedAt: ticket.updatedAt.getTime(),
    deletedAt: ticket.deletedAt?.getTime() ?? null,
  });
}

/** The tenant's ticket ids newest first: the order a filter export writes. */
export async function idsNewestFirst(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom("tickets").select("id").where("tenant_id", "=", tenantId)
    .where("deleted_at", "is", null).orderBy("id", "desc").execute();
  return rows.map((row) => String(row.id));
}
