/**
 * Helpers for the import tests: startBulkImport / previewBulkImport over real HTTP, with the
 * file sent as a GraphQL multipart request or PUT to a staged upload, and reads of what the
 * import wrote.
 */
import { sql } from "kysely";
import type { Db } from "../../src/db/database.ts";
import type { TicketRow } from "../../src/tickets/model.ts";
import { gql } from "./graphql.ts";
import { OPERATION_FIELDS } from "./api.ts";
import type { TestServer, TestUser } from "./server.ts";

export const START_IMPORT = `mutation StartImport($input: StartBulkImportInput!) {
  startBulkImport(input: $input) {
    bulkOperation { ${OPERATION_FIELDS} }
    replayed
    userErrors { code field message }
  }
}`;

export const PREVIEW_IMPORT = `mutation PreviewImport($input: StartBulkImportInput!) {
  previewBulkImport(input: $input) {
    preview { previewToken matchedCount wouldChange wouldSkip wouldFail predictedByCode { code count }
      sample { position outcome code message after } }
    userErrors { code field message }
  }
}`;

export const CREATE_UPLOAD = `mutation { createUpload { upload { id url maxBytes } userErrors { code message } } }`;

export interface ImportPayload {
  bulkOperation: { id: string; status: string; counts: Record<string, number> } | null;
  replayed: boolean;
  userErrors: { code: string; field: string[] | null; message: string }[];
}

function payloadOf(result: { data?: Record<string, unknown> | null; errors?: unknown[] }, field: string) {
  if (result.errors) throw new Error(`${field} failed: ${JSON.stringify(result.errors)}`);
  return result.data![field];
}

/** startBulkImport with a JSON body (inline rows or an upload id). */
export async function startImport(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  return payloadOf(
    await gql(server.graphqlUrl, user.token, START_IMPORT, { input }),
    "startBulkImport",
  ) as ImportPayload;
}

/** A GraphQL multipart request (operations, map, the file as part "0") of `query` with input.source.file. */
export async function multipart(
  server: TestServer,
  user: TestUser,
  query: string,
  input: Record<string, unknown>,
  file: Uint8Array<ArrayBuffer> | string,
  filename = "tickets.csv",
): Promise<Response> {
  const form = new FormData();
  form.set("operations", JSON.stringify({ query, variables: { input: { ...input, source: { file: null } } } }));
  form.set("map", JSON.stringify({ "0": ["variables.input.source.file"] }));
  form.set("0", new Blob([file]), filename);
  return await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { authorization: `Bearer ${user.token}` },
    body: form,
  });
}

/** startBulkImport with the file sent as a multipart upload. */
export async function startImportFile(
  server: TestServer,
  user: TestUser,
  input: Record<string, unknown>,
  file: Uint8Array<ArrayBuffer> | string,
): Promise<ImportPayload> {
  const response = await multipart(server, user, START_IMPORT, input, file);
  return payloadOf(await response.json(), "startBulkImport") as ImportPayload;
}

/** The createUpload mutation; the URL is rebased on the test server (PUBLIC_URL names no real port). */
export async function requestUpload(server: TestServer, user: TestUser): Promise<{ id: string; url: string }> {
  const payload = payloadOf(await gql(server.graphqlUrl, user.token, CREATE_UPLOAD), "createUpload") as {
    upload: { id: string; url: string };
  };
  return { id: payload.upload.id, url: `${server.url}${new URL(payload.upload.url).pathname}` };
}

/** PUTs `body` to a staged upload's URL. */
export async function putUpload(url: string, user: TestUser, body: BodyInit): Promise<Response> {
  return await fetch(url, { method: "PUT", headers: { authorization: `Bearer ${user.token}` }, body });
}

/** createUpload + PUT; returns the upload id. */
export async function stage(server: TestServer, user: TestUser, body: BodyInit): Promise<string> {
  const upload = await requestUpload(server, user);
  const response = await putUpload(upload.url, user, body);
  if (response.status !== 200) throw new Error(`PUT failed: ${response.status} ${await response.text()}`);
  await response.body?.cancel();
  return upload.id;
}

export type ImportedTicket = Pick<
  TicketRow,
  "id" | "title" | "body" | "status" | "priority" | "category" | "assignee_id" | "external_id"
>;

/** The tenant's tickets by id order, the columns an import sets. */
export async function importedTickets(db: Db, tenantId: string): Promise<ImportedTicket[]> {
  const { rows } = await sql<ImportedTicket>`SELECT id::text, title, body, status, priority, category, assignee_id,
    external_id FROM tickets WHERE tenant_id = ${tenantId} ORDER BY tickets.id`.execute(db);
  return rows;
}

/** The operation's items: position, outcome, code (ledger order). */
export async function itemOutcomes(db: Db, operationId: string) {
  const { rows } = await sql<{ position: number; outcome: string; error_code: string | null; target_id: string }>`
    SELECT position, outcome, error_code, target_id::text FROM bulk_operation_items
    WHERE operation_id = ${operationId} ORDER BY position`.execute(db);
  return rows;
}

/** Rows the tables an import writes hold (a refused input must leave them unchanged). */
export async function importFootprint(db: Db) {
  const { rows } = await sql<{ operations: number; items: number; tickets: number }>`SELECT
    (SELECT count(*)::int FROM bulk_operations) AS operations,
    (SELECT count(*)::int FROM bulk_operation_items) AS items,
    (SELECT count(*)::int FROM tickets) AS tickets`.execute(db);
  return rows[0];
}
