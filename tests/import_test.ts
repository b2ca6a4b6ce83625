/**
 * Bulk import through real HTTP (GraphQL multipart, staged PUT, inline rows), checked against the
 * database: every row accounted for, the created tickets equal to the file's valid rows, per-row
 * codes and fields, UPSERT by externalId through the change rules, the failed-rows file
 * re-imported after fixing.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { dbIdOf } from "./helpers/api.ts";
import { waitFor } from "./helpers/bulk.ts";
import { finished } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import {
  importedTickets,
  itemOutcomes,
  multipart,
  PREVIEW_IMPORT,
  stage,
  startImport,
  startImportFile,
} from "./helpers/imports.ts";
import { BATCH_ROWS } from "../src/imports/parse.ts";
import { encodeId, expectId } from "../src/graphql/ids.ts";
import { startTestServer } from "./helpers/server.ts";

const env = { WORKERS: "1", BULK_CHUNK_SIZE: "3", BULK_MAX_STARTS_PER_MINUTE: "1000" };

Deno.test("a CSV file sent as a multipart request: one item per row, valid rows created, bad rows FAILED with their code", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const csv = "\uFEFFTitle,Body,Status,Priority,Assignee,External_Id,Extra\r\n" +
    `"Printer, 3rd floor","Line one\nline ""two""",PENDING,high,${tenant.agent.email},ext-1,x\r\n` +
    "Second,,,,,ext-2,y\r\n" +
    "Bad status,,WAITING,,,ext-3,z\r\n" +
    "Too few columns,b\r\n" +
    "Repeated,,,,,ext-1,w\r\n" +
    `${"T".repeat(201)},,,,,ext-6,v\r\n` +
    `No such user,,,,nobody@test.example,ext-7,u\r\n` +
    `Viewer assignee,,,,${tenant.viewer.email},ext-8,t\r\n`;
  const payload = await startImportFile(server, tenant.agent, { format: "CSV", mode: "CREATE" }, csv);
  expect(payload.userErrors).toEqual([]);
  const id = dbIdOf(payload.bulkOperation!.id);
  const kind = await gql(
    server.graphqlUrl,
    tenant.agent.token,
    `query($id: ID!) { node(id: $id) { ... on BulkOperation { actionKind } } }`,
    { id: payload.bulkOperation!.id },
  );
  expect(kind.data.node.actionKind).toBe("IMPORT");
  const op = await waitFor(db, id, finished);
  expect(op.status).toBe("COMPLETED_WITH_ERRORS");
  expect({ total: op.total, succeeded: op.succeeded, failed: op.failed, skipped: op.skipped }).toEqual({
    total: 8,
    succeeded: 2,
    failed: 6,
    skipped: 0,
  });
  const items = await itemOutcomes(db, id);
  expect(items.map((i) => [i.position, i.outcome, i.error_code])).toEqual([
    [0, "SUCCEEDED", null],
    [1, "SUCCEEDED", null],
    [2, "FAILED", "INVALID_FIELD"],
    [3, "FAILED", "INVALID_ROW"],
    [4, "FAILED", "DUPLICATE_IN_FILE"],
    [5, "FAILED", "TOO_LONG"],
    [6, "FAILED", "UNKNOWN_ASSIGNEE"],
    [7, "FAILED", "INVALID_FIELD"],
  ]);
  const { rows: fields } = await sql<{ position: number; field: string | null; message: string }>`
      SELECT position, after->>'failedField' AS field, error_message AS message FROM bulk_operation_items
      WHERE operation_id = ${id} AND outcome = 'FAILED' ORDER BY position`.execute(db);
  expect(fields.map((f) => f.field)).toEqual(["status", null, "externalId", "title", "assignee", "assignee"]);
  expect(fields[0].message).toContain("status must be one of OPEN, PENDING, RESOLVED, CLOSED");
  const tickets = await importedTickets(db, tenant.id);
  expect(tickets.map(({ id: _, ...t }) => t)).toEqual([
    {
      title: "Printer, 3rd floor",
      body: 'Line one\nline "two"',
      status: "PENDING",
      priority: "HIGH",
      category: "GENERAL",
      assignee_id: tenant.agent.id,
      external_id: "ext-1",
    },
    {
      title: "Second",
      body: "",
      status: "OPEN",
      priority: "NORMAL",
      category: "GENERAL",
      assignee_id: null,
      external_id: "ext-2",
    },
  ]);
  // The items' targets are the created tickets.
  expect(items.slice(0, 2).map((i) => i.target_id)).toEqual(tickets.map((t) => t.id));

  // The failed rows as given plus an error column; fixed and imported again, they all succeed.
  const download = await fetch(`${server.url}/bulk-operations/${payload.bulkOperation!.id}/failed-rows.csv`, {
    headers: { authorization: `Bearer ${tenant.agent.token}` },
  });
  expect(download.status).toBe(200);
  const failedCsv = await download.text();
  const lines = failedCsv.trimEnd().split("\n");
  expect(lines[0]).toBe("Title,Body,Status,Priority,Assignee,External_Id,Extra,error");
  expect(lines[1]).toBe(
    'Bad status,,WAITING,,,ext-3,z,"INVALID_FIELD: status must be one of OPEN, PENDING, RESOLVED, CLOSED ' +
      '(got ""WAITING"")."',
  );
  const fixed = failedCsv.replace("WAITING", "RESOLVED").replace(
    "Too few columns,b,,,,,,",
    "Too few columns,b,,,,ext-4,s,",
  )
    .replace(",ext-1,w,", ",ext-5,w,").replace("T".repeat(201), "Short title")
    .replace("nobody@test.example", tenant.admin.email).replace(tenant.viewer.email, tenant.agent.email);
  const again = await startImportFile(server, tenant.agent, { format: "CSV", mode: "CREATE" }, fixed);
  expect(again.userErrors).toEqual([]);
  const second = await waitFor(db, dbIdOf(again.bulkOperation!.id), finished);
  expect(second.error_counts).toEqual({});
  expect({ status: second.status, succeeded: second.succeeded, total: second.total }).toEqual({
    status: "COMPLETED",
    succeeded: 6,
    total: 6,
  });
  expect((await importedTickets(db, tenant.id)).map((t) => t.external_id)).toEqual([
    "ext-1",
    "ext-2",
    "ext-3",
    "ext-4",
    "ext-5",
    "ext-6",
    "ext-7",
    "ext-8",
  ]);
});

Deno.test("UPSERT by externalId from a staged JSONL upload: updates through the change rules, creates the rest", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const created = await startImport(server, tenant.agent, {
    source: {
      rows: [
        { title: "Open one", externalId: "a" },
        { title: "Closed one", status: "CLOSED", externalId: "b" },
        { title: "Same", priority: "LOW", externalId: "c" },
        { title: "Open two", externalId: "d" },
      ],
    },
  });
  expect(created.userErrors).toEqual([]);
  await waitFor(db, dbIdOf(created.bulkOperation!.id), finished);
  const before = await importedTickets(db, tenant.id);
  const jsonl = [
    { externalId: "a", title: "Open one, renamed", status: "PENDING", body: "more" },
    { externalId: "b", priority: "HIGH" },
    { externalId: "c", title: "Same", priority: "LOW" },
    { externalId: "d", status: "CLOSED" },
    { externalId: "e", title: "New one", category: "BILLING" },
    { externalId: "b", status: "OPEN" },
  ].map((row) => JSON.stringify(row)).join("\n") + "\n";
  const upload = await stage(server, tenant.agent, jsonl);
  const payload = await startImport(server, tenant.agent, {
    source: { upload },
    format: "JSONL",
    mode: "UPSERT",
  });
  expect(payload.userErrors).toEqual([]);
  const id = dbIdOf(payload.bulkOperation!.id);
  const op = await waitFor(db, id, finished);
  expect({ succeeded: op.succeeded, failed: op.failed, skipped: op.skipped }).toEqual({
    succeeded: 2,
    failed: 3,
    skipped: 1,
  });
  expect((await itemOutcomes(db, id)).map((i) => [i.outcome, i.error_code])).toEqual([
    ["SUCCEEDED", null],
    ["FAILED", "FORBIDDEN"],
    ["SKIPPED", "NO_CHANGE"],
    ["FAILED", "INVALID_TRANSITION"],
    ["SUCCEEDED", null],
    ["FAILED", "DUPLICATE_IN_FILE"],
  ]);
  const after = await importedTickets(db, tenant.id);
  expect(after.slice(0, 4)).toEqual([
    { ...before[0], title: "Open one, renamed", status: "PENDING", body: "more" },
    before[1],
    before[2],
    before[3],
  ]);
  expect(after.slice(4).map(({ id: _, ...t }) => t)).toEqual([{
    title: "New one",
    body: "",
    status: "OPEN",
    priority: "NORMAL",
    category: "BILLING",
    assignee_id: null,
    external_id: "e",
  }]);
});

Deno.test("a column mapping, and the failed rows of a JSONL import as JSONL with an error key", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const mapped = await startImportFile(server, tenant.agent, {
    format: "CSV",
    mapping: [{ column: "Subject", field: "TITLE" }, { column: "Owner", field: "ASSIGNEE" }],
  }, `Subject,Owner,Notes\nMapped one,${tenant.agent.email},ignored\n`);
  expect(mapped.userErrors).toEqual([]);
  await waitFor(db, dbIdOf(mapped.bulkOperation!.id), finished);
  expect((await importedTickets(db, tenant.id)).map((t) => [t.title, t.assignee_id])).toEqual([
    ["Mapped one", tenant.agent.id],
  ]);

  const jsonl = '{"title":"Fine","externalId":"j1"}\n{"title":"","externalId":"j2","note":"kept"}\n';
  const payload = await startImportFile(server, tenant.agent, { format: "JSONL" }, jsonl);
  const gid = payload.bulkOperation!.id;
  await waitFor(db, dbIdOf(gid), finished);
  const get = (ext: string) =>
    fetch(`${server.url}/bulk-operations/${gid}/failed-rows.${ext}`, {
      headers: { authorization: `Bearer ${tenant.agent.token}` },
    });
  const failedRows = await get("jsonl");
  expect(failedRows.status).toBe(200);
  expect((await failedRows.text()).trimEnd().split("\n").map((line) => JSON.parse(line))).toEqual([
    { title: "", externalId: "j2", note: "kept", error: "INVALID_FIELD: title is required for a new ticket." },
  ]);
  const wrongFormat = await get("csv");
  expect(wrongFormat.status).toBe(409);
  await wrongFormat.body?.cancel();
  const otherTenant = await fetch(`${server.url}/bulk-operations/${gid}/failed-rows.jsonl`, {
    headers: { authorization: `Bearer ${server.otherTenant.agent.token}` },
  });
  expect(otherTenant.status).toBe(404);
  await otherTenant.body?.cancel();
});

Deno.test("a repeated externalId is DUPLICATE_IN_FILE naming its first row, across the file's batches and in a preview", async () => {
  await using server = await startTestServer({ env: { ...env, BULK_CHUNK_SIZE: "1000" } });
  const { db, tenant } = server;
  // Rows 1-5000 are the first batch read (BATCH_ROWS), 5001-5003 the second: row 5002 repeats row 2 of the
  // first batch, row 5003 repeats row 5001 of its own.
  const ext = [...Array.from({ length: 5001 }, (_, i) => i + 1), 2, 5001];
  expect(ext.length).toBe(BATCH_ROWS + 3);
  const csv = "title,externalId\n" + ext.map((e, i) => `Row ${i + 1},ext-${e}\n`).join("");
  const preview = await (await multipart(server, tenant.agent, PREVIEW_IMPORT, { format: "CSV" }, csv)).json();
  expect(preview.data.previewBulkImport.preview.predictedByCode).toEqual([{ code: "DUPLICATE_IN_FILE", count: 2 }]);
  const payload = await startImportFile(server, tenant.agent, { format: "CSV" }, csv);
  expect(payload.userErrors).toEqual([]);
  const id = dbIdOf(payload.bulkOperation!.id);
  const op = await waitFor(db, id, finished);
  expect({ succeeded: op.succeeded, failed: op.failed }).toEqual({ succeeded: 5001, failed: 2 });
  const { rows: failed } = await sql<{ position: number; error_code: string; error_message: string }>`
      SELECT position, error_code, error_message FROM bulk_operation_items
      WHERE operation_id = ${id} AND outcome = 'FAILED' ORDER BY position`.execute(db);
  expect(failed).toEqual([
    {
      position: 5001,
      error_code: "DUPLICATE_IN_FILE",
      error_message: "Row 2 has the same externalId; only the first one is imported.",
    },
    {
      position: 5002,
      error_code: "DUPLICATE_IN_FILE",
      error_message: "Row 5001 has the same externalId; only the first one is imported.",
    },
  ]);
  const { rows: [created] } = await sql<{ n: number; distinct_ids: number }>`
      SELECT count(*)::int AS n, count(DISTINCT external_id)::int AS distinct_ids FROM tickets
      WHERE tenant_id = ${tenant.id} AND external_id LIKE 'ext-%'`.execute(db);
  expect(created).toEqual({ n: 5001, distinct_ids: 5001 });
});

Deno.test("a staged upload is deleted by the start that stages it; kept when the start is refused or has an idempotencyKey to replay", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const csv = "title,externalId\nKept once,u-1\n";
  const left = async (gid: string) => {
    const upload = expectId(gid, "BulkUpload");
    const { rows: [row] } = await sql<{ uploads: number; parts: number }>`
        SELECT (SELECT count(*) FROM bulk_uploads WHERE id = ${upload})::int AS uploads,
          (SELECT count(*) FROM bulk_upload_parts WHERE upload_id = ${upload})::int AS parts`.execute(db);
    return row;
  };

  const refusedUpload = await stage(server, tenant.agent, csv);
  const refused = await startImport(server, tenant.agent, {
    source: { upload: refusedUpload },
    format: "CSV",
    previewToken: encodeId("BulkPreview", crypto.randomUUID()),
  });
  expect(refused.userErrors.map((e) => e.code)).toEqual(["PREVIEW_EXPIRED"]);
  expect(await left(refusedUpload)).toEqual({ uploads: 1, parts: 1 });

  const started = await startImport(server, tenant.agent, { source: { upload: refusedUpload }, format: "CSV" });
  expect(started.userErrors).toEqual([]);
  expect(await left(refusedUpload)).toEqual({ uploads: 0, parts: 0 });
  const op = await waitFor(db, dbIdOf(started.bulkOperation!.id), finished);
  expect(op.succeeded).toBe(1);
  const again = await startImport(server, tenant.agent, { source: { upload: refusedUpload }, format: "CSV" });
  expect(again.userErrors.map((e) => e.code)).toEqual(["NOT_FOUND"]);

  const keyedUpload = await stage(server, tenant.agent, csv.replace("u-1", "u-2"));
  const keyed = { source: { upload: keyedUpload }, format: "CSV", idempotencyKey: "import-once" };
  const first = await startImport(server, tenant.agent, keyed);
  const replay = await startImport(server, tenant.agent, keyed);
  expect(replay).toMatchObject({ replayed: true, userErrors: [], bulkOperation: { id: first.bulkOperation!.id } });
  expect(await left(keyedUpload)).toEqual({ uploads: 1, parts: 1 });
});
