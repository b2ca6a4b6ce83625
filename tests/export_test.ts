/**
 * Bulk export (issue 11) through the real app: startBulkExport over GraphQL, worker threads
 * rendering the parts, and real HTTP downloads of GET /bulk-operations/{id}/export compared
 * with the database row by row, for every format, gzipped, resumed with Range, and refused
 * while running, for another tenant, or for bad input.
 */
import { parse as parseCsv } from "csv-parse/sync";
import { expect } from "expect";
import { sql } from "kysely";
import { gunzipSync } from "node:zlib";
import {
  download,
  downloadBytes,
  expectRecord,
  exportOf,
  idsNewestFirst,
  START_EXPORT,
  startExport,
  ticketsInOrder,
  uuidOf,
  waitExported,
} from "./helpers/exports.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const CHUNK = 5;
const TICKETS = 23; // 5 parts, the last one short
const decoder = new TextDecoder();

/** Titles and bodies that a CSV or JSON writer must quote or escape (none starts like a formula). */
async function awkwardTickets(server: TestServer): Promise<void> {
  const ids = await idsNewestFirst(server.db, server.tenant.id);
  const awkward = [
    ['Comma, and "quotes"', "line one\r\nline two\nline three"],
    ["Ünïcødé ✓ 漢字", "tab\there, and a trailing space "],
    ["Multi\nline title", ""],
  ];
  for (const [index, [title, body]] of awkward.entries()) {
    await server.db.updateTable("tickets").set({ title, body }).where("id", "=", ids[index * 4]).execute();
  }
  await server.db.insertInto("ticket_comments").values([
    { tenant_id: server.tenant.id, ticket_id: ids[1], author_id: server.tenant.agent.id, body: 'First, "quoted"' },
    { tenant_id: server.tenant.id, ticket_id: ids[1], author_id: server.tenant.admin.id, body: "Second\nline" },
    { tenant_id: server.tenant.id, ticket_id: ids[7], author_id: server.tenant.agent.id, body: "Only one" },
  ]).execute();
}

async function exportServer(env: Record<string, string> = {}) {
  const server = await startTestServer({
    tickets: TICKETS,
    env: {
      WORKERS: "1",
      BULK_CHUNK_SIZE: String(CHUNK),
      BULK_EXPORT_CHUNK_SIZE: String(CHUNK),
      BULK_POLL_MS: "50",
      BULK_MAX_STARTS_PER_MINUTE: "1000",
      BULK_MAX_WAITING_PER_USER: "100",
      BULK_MAX_ACTIVE_PER_USER: "10",
      ...env,
    },
  });
  await awkwardTickets(server);
  return server;
}

async function exported(
  server: TestServer,
  input: Record<string, unknown>,
): Promise<{ id: string; bytes: Uint8Array }> {
  const id = await startExport(server, server.tenant.agent.token, { targets: { filter: {} }, ...input });
  const done = await waitExported(server, id);
  expect(done.status).toBe("COMPLETED");
  return { id, bytes: await downloadBytes(server, server.tenant.agent.token, id) };
}

Deno.test("export: CSV, JSONL, JSON and Markdown downloads equal the database row by row", async () => {
  await using server = await exportServer();
  const ids = await idsNewestFirst(server.db, server.tenant.id);
  const tickets = await ticketsInOrder(server.db, ids);

  // CSV: parsed back with csv-parse, header first, one record per ticket in snapshot order.
  const csv = await exported(server, { format: "CSV", includeComments: true });
  const response = await download(server, server.tenant.agent.token, csv.id);
  expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
  const date = new Date().toISOString().slice(0, 10);
  expect(response.headers.get("content-disposition")).toBe(`attachment; filename="tickets-${date}.csv"`);
  await response.body?.cancel();
  const text = decoder.decode(csv.bytes);
  expect(text.startsWith("id,title,body,status,priority,category,assigneeId,createdBy,version,createdAt,")).toBe(
    true,
  );
  expect(text.endsWith("\r\n")).toBe(true);
  // A lone line break is quoted too (csv-stringify leaves it bare with CRLF records; readers that split
  // on any line break, such as Python's csv module, would break the record there).
  expect(text).toContain(',"Multi\nline title",');
  const rows = parseCsv(text, { columns: true }) as Record<string, string>[];
  expect(rows.length).toBe(TICKETS);
  rows.forEach((row, i) => {
    expectRecord(row, tickets[i]);
    expect(
      JSON.parse(row.comments).map((c: { authorId: string; body: string }) => ({
        authorId: c.authorId,
        body: c.body,
      })),
    )
      .toEqual(tickets[i].comments);
  });

  // JSONL: one object per line.
  const jsonl = decoder.decode((await exported(server, { format: "JSONL" })).bytes);
  const lines = jsonl.split("\n");
  expect(lines.pop()).toBe("");
  expect(lines.length).toBe(TICKETS);
  lines.forEach((line, i) => expectRecord(JSON.parse(line), tickets[i]));

  // JSON: one array, parsed whole, with comments.
  const json = JSON.parse(decoder.decode((await exported(server, { format: "JSON", includeComments: true })).bytes));
  expect(json.length).toBe(TICKETS);
  json.forEach((record: Record<string, unknown> & { comments: { authorId: string; body: string }[] }, i: number) => {
    expectRecord(record, tickets[i]);
    expect(record.comments.map((c) => ({ authorId: c.authorId, body: c.body }))).toEqual(tickets[i].comments);
  });

  // Markdown: one section per ticket, in order, each with its title (line breaks folded).
  const markdown = decoder.decode((await exported(server, { format: "MARKDOWN", includeComments: true })).bytes);
  const headings = [...markdown.matchAll(/^## (.*)$/gm)].map((m) => m[1]);
  expect(headings).toEqual(tickets.map((t) => t.title.replace(/\s*\n\s*/g, " ")));
  expect(markdown).toContain("Only one");

  // Fields: chosen ones only, in the order asked.
  const some = decoder.decode((await exported(server, { format: "CSV", fields: ["status", "id"] })).bytes);
  expect(parseCsv(some)).toEqual([["status", "id"], ...tickets.map((t) => [t.status, t.id])]);

  // The operation's export: rows, exact bytes, the url, expiry after EXPORT_RETENTION_DAYS.
  const view = await exportOf(server, server.tenant.agent.token, csv.id);
  const done = await waitExported(server, csv.id);
  expect(view.export).toMatchObject({
    format: "CSV",
    compression: "NONE",
    state: "READY",
    rows: TICKETS,
    bytes: csv.bytes.length,
    includeComments: true,
    url: `${server.config.publicUrl}/bulk-operations/${csv.id}/export`,
    expiresAt: new Date(new Date(done.finished_at!).getTime() + 7 * 86_400_000).toISOString(),
  });
  // One part per chunk, in the ledger's chunk order.
  const { rows: [parts] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_operation_parts
      WHERE operation_id = ${uuidOf(csv.id)}`.execute(server.db);
  expect(parts.n).toBe(Math.ceil(TICKETS / CHUNK));
});

Deno.test("export: GZIP files are one gzip stream of the same bytes, with Content-Length and ranges", async () => {
  await using server = await exportServer();
  for (const format of ["CSV", "JSON"]) {
    const plain = await exported(server, { format, includeComments: true });
    const gzipped = await exported(server, { format, includeComments: true, compression: "GZIP" });
    expect(gzipped.bytes[0]).toBe(0x1f);
    expect(gzipped.bytes[1]).toBe(0x8b);
    expect(gzipSafe(gzipped.bytes)).toEqual(plain.bytes);
    const response = await download(server, server.tenant.agent.token, gzipped.id, { range: "bytes=100-" });
    expect(response.status).toBe(206);
    expect(response.headers.get("content-type")).toBe("application/gzip");
    expect(response.headers.get("content-disposition")).toContain(format === "CSV" ? '.csv.gz"' : '.json.gz"');
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(gzipped.bytes.subarray(100));
    expect((await exportOf(server, server.tenant.agent.token, gzipped.id)).export.bytes).toBe(gzipped.bytes.length);
  }
});

/** gunzip of every member (node:zlib reads concatenated members as one stream). */
const gzipSafe = (bytes: Uint8Array) => new Uint8Array(gunzipSync(bytes));

Deno.test("export: a range request resumes a broken download; 416 past the end; If-Range guards the resume", async () => {
  await using server = await exportServer();
  const { id, bytes: whole } = await exported(server, { format: "JSONL", includeComments: true });
  const token = server.tenant.agent.token;
  // A download broken off after its first bytes: the client read some, then the connection went.
  const first = await download(server, token, id);
  const reader = first.body!.getReader();
  const { value } = await reader.read();
  const got = value!.subarray(0, Math.min(value!.length, 300));
  await reader.cancel();
  const resumed = await download(server, token, id, { range: `bytes=${got.length}-` });
  expect(resumed.status).toBe(206);
  expect(resumed.headers.get("content-range")).toBe(`bytes ${got.length}-${whole.length - 1}/${whole.length}`);
  const rest = new Uint8Array(await resumed.arrayBuffer());
  expect(Number(resumed.headers.get("content-length"))).toBe(rest.length);
  expect(new Uint8Array([...got, ...rest])).toEqual(whole);

  // A middle range that spans part boundaries, and a suffix range.
  const middle = await download(server, token, id, { range: "bytes=1000-2999" });
  expect(middle.status).toBe(206);
  expect(new Uint8Array(await middle.arrayBuffer())).toEqual(whole.subarray(1000, 3000));
  const tail = await download(server, token, id, { range: "bytes=-10" });
  expect(new Uint8Array(await tail.arrayBuffer())).toEqual(whole.subarray(whole.length - 10));

  const beyond = await download(server, token, id, { range: `bytes=${whole.length}-` });
  expect(beyond.status).toBe(416);
  expect(beyond.headers.get("content-range")).toBe(`bytes */${whole.length}`);
  await beyond.body?.cancel();

  const etag = first.headers.get("etag")!;
  const same = await download(server, token, id, { range: "bytes=5-", "if-range": etag });
  expect(same.status).toBe(206);
  await same.body?.cancel();
  const other = await download(server, token, id, { range: "bytes=5-", "if-range": '"another-file"' });
  expect(other.status).toBe(200);
  expect(new Uint8Array(await other.arrayBuffer())).toEqual(whole);
});

Deno.test("export: CSV cells that start like a formula are neutralised; JSON keeps the text as written", async () => {
  await using server = await exportServer();
  const ids = await idsNewestFirst(server.db, server.tenant.id);
  const formulas = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3", "@SUM(A1)", "\tTab", "\rCR"];
  for (const [index, title] of formulas.entries()) {
    await server.db.updateTable("tickets").set({ title, body: title }).where("id", "=", ids[index]).execute();
  }
  const rows: Record<string, string>[] = parseCsv(decoder.decode((await exported(server, { format: "CSV" })).bytes), {
    columns: true,
  });
  formulas.forEach((title, i) => {
    expect(rows[i].title).toBe(`'${title}`);
    expect(rows[i].body).toBe(`'${title}`);
  });
  // Numbers and safe text are untouched.
  expect(rows[6].title).not.toMatch(/^'/);
  expect(rows[0].version).toBe("1");
  const json = JSON.parse(decoder.decode((await exported(server, { format: "JSON" })).bytes));
  expect(json.slice(0, formulas.length).map((r: { title: string }) => r.title)).toEqual(formulas);
});

Deno.test("export: 409 while it runs, 404 for another tenant or a non-export, 401 without a token", async () => {
  await using server = await exportServer({ WORKERS: "0" });
  const id = await startExport(server, server.tenant.agent.token, { targets: { filter: {} }, format: "CSV" });
  const running = await download(server, server.tenant.agent.token, id);
  expect(running.status).toBe(409);
  expect(await running.json()).toMatchObject({ code: "EXPORT_NOT_READY" });
  expect((await exportOf(server, server.tenant.agent.token, id)).export).toMatchObject({
    state: "PENDING",
    url: null,
    bytes: null,
    expiresAt: null,
  });

  // An idempotent resend returns the same export; the same key with another input is refused.
  const keyed = { targets: { filter: {} }, format: "JSONL", idempotencyKey: "nightly-2026-12-01" };
  const first = await gql(server.graphqlUrl, server.tenant.agent.token, START_EXPORT, { input: keyed });
  const again = await gql(server.graphqlUrl, server.tenant.agent.token, START_EXPORT, { input: keyed });
  expect(again.data.startBulkExport.bulkOperation.id).toBe(first.data.startBulkExport.bulkOperation.id);
  const other = await gql(server.graphqlUrl, server.tenant.agent.token, START_EXPORT, {
    input: { ...keyed, format: "CSV" },
  });
  expect(other.data.startBulkExport.userErrors).toMatchObject([{ code: "IDEMPOTENCY_CONFLICT" }]);

  const foreign = await download(server, server.otherTenant.admin.token, id);
  expect(foreign.status).toBe(404);
  expect(await foreign.json()).toEqual({ error: "No bulk operation with this id." });
  const unauthenticated = await fetch(`${server.url}/bulk-operations/${id}/export`);
  expect(unauthenticated.status).toBe(401);
  await unauthenticated.body?.cancel();

  const change = await gql(
    server.graphqlUrl,
    server.tenant.agent.token,
    `mutation($input: StartBulkOperationInput!) {
      startBulkOperation(input: $input) { bulkOperation { id } userErrors { code } } }`,
    {
      input: { targets: { filter: {} }, action: { setPriority: { priority: "HIGH" } } },
    },
  );
  const notExport = await download(
    server,
    server.tenant.agent.token,
    change.data.startBulkOperation.bulkOperation.id,
  );
  expect(notExport.status).toBe(404);
  expect(await notExport.json()).toMatchObject({ code: "NOT_AN_EXPORT" });
});

Deno.test("export: bad input is a typed error and writes nothing", async () => {
  await using server = await exportServer({ WORKERS: "0", BULK_MAX_TARGETS: "10" });
  const attempt = async (token: string, input: Record<string, unknown>) =>
    await gql(server.graphqlUrl, token, START_EXPORT, { input });
  const refusal = async (input: Record<string, unknown>, token = server.tenant.agent.token) =>
    (await attempt(token, input)).data?.startBulkExport.userErrors;
  const ids = await idsNewestFirst(server.db, server.tenant.id);
  const ticket = (id: string) => btoa(`Ticket:${id}`).replace(/=+$/, "");

  expect(await refusal({ targets: { ids: [] }, format: "CSV" })).toEqual([
    { code: "EMPTY_TARGETS", field: ["input", "targets", "ids"], message: "The target list is empty." },
  ]);
  expect(await refusal({ targets: { filter: { titleContains: "no such ticket" } }, format: "CSV" }))
    .toMatchObject([{ code: "EMPTY_TARGETS" }]);
  expect(await refusal({ targets: { filter: {} }, format: "CSV" })).toMatchObject([{ code: "TOO_MANY_TARGETS" }]);
  expect(await refusal({ targets: { ids: ids.slice(0, 11).map(ticket) }, format: "CSV" }))
    .toMatchObject([{ code: "TOO_MANY_TARGETS" }]);
  const unknownFields = await refusal({
    targets: { ids: [ticket(ids[0])] },
    format: "CSV",
    fields: ["title", "secret", "password"],
  });
  expect(unknownFields).toMatchObject([{ code: "INVALID_PARAMS", field: ["input", "fields"] }]);
  expect(unknownFields[0].message).toContain('Unknown fields: "secret", "password".');
  expect(await refusal({ targets: { ids: [ticket(ids[0])] }, format: "CSV", fields: [] }))
    .toMatchObject([{ code: "INVALID_PARAMS", field: ["input", "fields"] }]);
  expect(await refusal({ targets: { ids: [ticket(ids[0])] }, format: "CSV" }, server.tenant.viewer.token))
    .toMatchObject([{ code: "FORBIDDEN" }]);
  // An unknown format is not a value of the enum: a request error naming it, nothing run.
  const badFormat = await attempt(server.tenant.agent.token, { targets: { ids: [ticket(ids[0])] }, format: "XLSX" });
  expect(badFormat.errors?.[0].message).toContain('"XLSX"');
  expect(badFormat.data ?? null).toBeNull();

  const { rows: [written] } = await sql<{ ops: number; items: number; parts: number }>`SELECT
      (SELECT count(*) FROM bulk_operations)::int AS ops, (SELECT count(*) FROM bulk_operation_items)::int AS items,
      (SELECT count(*) FROM bulk_operation_parts)::int AS parts`.execute(server.db);
  expect(written).toEqual({ ops: 0, items: 0, parts: 0 });
});
