/**
 * Every bad import input is refused with a typed error and writes nothing: not UTF-8, not CSV,
 * not JSONL, unbalanced quotes, an empty file, a header without a title column, more rows than
 * BULK_MAX_TARGETS, a file over the size limits (413), a mapping naming no column, another
 * tenant's upload, a viewer.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { gql } from "./helpers/graphql.ts";
import {
  CREATE_UPLOAD,
  importFootprint,
  multipart,
  putUpload,
  requestUpload,
  stage,
  START_IMPORT,
  startImport,
  startImportFile,
} from "./helpers/imports.ts";
import { startTestServer } from "./helpers/server.ts";
import { UPLOADS_PER_USER } from "../src/imports/uploads.ts";

const MAX_TARGETS = 5;

Deno.test("bad import inputs: a typed userError or HTTP status each, and nothing written", async () => {
  await using server = await startTestServer({
    env: {
      BULK_MAX_TARGETS: String(MAX_TARGETS),
      MAX_BODY_BYTES: "4096",
      UPLOAD_MAX_BYTES: "2048",
      BODY_READ_TIMEOUT_MS: "1000",
      BULK_MAX_STARTS_PER_MINUTE: "1000",
    },
  });
  const { db, tenant, otherTenant } = server;
  const untouched = await importFootprint(db);
  const refusedFile = async (file: Uint8Array<ArrayBuffer> | string, input: Record<string, unknown>) => {
    const payload = await startImportFile(server, tenant.agent, input, file);
    expect(payload.bulkOperation).toBeNull();
    expect(await importFootprint(db)).toEqual(untouched);
    return payload.userErrors.map((e) => e.code);
  };
  const csv = { format: "CSV" };
  expect(await refusedFile(new Uint8Array([0x74, 0x69, 0x74, 0x6c, 0x65, 0x0a, 0xff, 0xfe, 0x0a]), csv)).toEqual([
    "INVALID_ENCODING",
  ]);
  expect(await refusedFile('title,body\n"never closed,x\nmore,y\n', csv)).toEqual(["INVALID_FILE"]);
  expect(await refusedFile("", csv)).toEqual(["EMPTY_FILE"]);
  expect(await refusedFile("title,body\n", csv)).toEqual(["EMPTY_FILE"]);
  expect(await refusedFile("name,body\nx,y\n", csv)).toEqual(["MISSING_TITLE_COLUMN"]);
  expect(await refusedFile("title\n" + "a\n".repeat(MAX_TARGETS + 1), csv)).toEqual(["TOO_MANY_TARGETS"]);
  expect(await refusedFile("title,body\nx,y\n", { format: "JSONL" })).toEqual(["INVALID_FILE"]);
  expect(await refusedFile('{"title":"a"}\n[1,2]\n', { format: "JSONL" })).toEqual(["INVALID_FILE"]);
  expect(await refusedFile("name\nx\n", { format: "CSV", mapping: [{ column: "nom", field: "TITLE" }] })).toEqual([
    "INVALID_MAPPING",
  ]);
  // A multipart body over MAX_BODY_BYTES: 413 before any of it is parsed.
  const big = await multipart(server, tenant.agent, START_IMPORT, csv, "title\n" + "x".repeat(5000) + "\n");
  expect(big.status).toBe(413);
  await big.body?.cancel();

  // Inline rows beyond the limit.
  const rows = await startImport(server, tenant.agent, {
    source: { rows: Array.from({ length: MAX_TARGETS + 1 }, (_, i) => ({ title: `t${i}` })) },
  });
  expect(rows.userErrors.map((e) => [e.code, e.field])).toEqual([["TOO_MANY_TARGETS", ["input", "source", "rows"]]]);

  // A staged upload over UPLOAD_MAX_BYTES (declared, then chunked without a length): 413, no part kept.
  const upload = await requestUpload(server, tenant.agent);
  const declared = await putUpload(upload.url, tenant.agent, "x".repeat(3000));
  expect(declared.status).toBe(413);
  await declared.body?.cancel();
  const chunks = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("title\n" + "y".repeat(500)));
      controller.close();
    },
  });
  const chunked = await putUpload(upload.url, tenant.agent, chunks);
  expect(chunked.status).toBe(413);
  await chunked.body?.cancel();
  const { rows: parts } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_upload_parts`.execute(db);
  expect(parts[0].n).toBe(0);
  // A PUT that stops sending: 408 after BODY_READ_TIMEOUT_MS without a chunk, no part kept.
  let pulls = 0;
  const stalling = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pulls++ === 0) return controller.enqueue(new TextEncoder().encode("title\nx\n"));
      await new Promise((resolve) => setTimeout(resolve, 4000));
      controller.close();
    },
  });
  const stalled = await putUpload(upload.url, tenant.agent, stalling);
  expect(stalled.status).toBe(408);
  await stalled.body?.cancel();
  const { rows: kept } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_upload_parts`.execute(db);
  expect(kept[0].n).toBe(0);
  const incomplete = await startImport(server, tenant.agent, { source: { upload: upload.id }, format: "CSV" });
  expect(incomplete.userErrors.map((e) => e.code)).toEqual(["UPLOAD_INCOMPLETE"]);

  // Another tenant's upload: a 404 to PUT and NOT_FOUND to start, like a missing one.
  const theirs = await stage(server, otherTenant.agent, "title\nx\n");
  const foreignPut = await putUpload(
    (await requestUpload(server, otherTenant.agent)).url,
    tenant.agent,
    "title\nx\n",
  );
  expect(foreignPut.status).toBe(404);
  await foreignPut.body?.cancel();
  const foreign = await startImport(server, tenant.agent, { source: { upload: theirs }, format: "CSV" });
  expect(foreign.userErrors.map((e) => e.code)).toEqual(["NOT_FOUND"]);
  const noFormat = await startImport(server, otherTenant.agent, { source: { upload: theirs } });
  expect(noFormat.userErrors.map((e) => [e.code, e.field])).toEqual([["INVALID_FILE", ["input", "format"]]]);

  // Viewers cannot import: no upload, no PUT, no start.
  const viewerUpload = await gql(server.graphqlUrl, tenant.viewer.token, CREATE_UPLOAD);
  expect(viewerUpload.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  const viewerPut = await putUpload(upload.url, tenant.viewer, "title\nx\n");
  expect(viewerPut.status).toBe(403);
  await viewerPut.body?.cancel();
  const viewerStart = await startImport(server, tenant.viewer, { source: { rows: [{ title: "x" }] } });
  expect(viewerStart.userErrors.map((e) => e.code)).toEqual(["FORBIDDEN"]);
  expect(await importFootprint(db)).toEqual(untouched);
});

Deno.test("createUpload: at most UPLOADS_PER_USER live uploads per user (TOO_MANY_UPLOADS), others unaffected", async () => {
  await using server = await startTestServer();
  const { tenant } = server;
  for (let i = 0; i < UPLOADS_PER_USER; i++) await requestUpload(server, tenant.agent);
  const refused = await gql(server.graphqlUrl, tenant.agent.token, CREATE_UPLOAD);
  expect(refused.data.createUpload.upload).toBeNull();
  expect(refused.data.createUpload.userErrors.map((e: { code: string }) => e.code)).toEqual(["TOO_MANY_UPLOADS"]);
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_uploads
      WHERE created_by = ${tenant.agent.id}`.execute(server.db);
  expect(rows[0].n).toBe(UPLOADS_PER_USER);
  // Expired ones do not count (and are deleted by the next createUpload).
  await sql`UPDATE bulk_uploads SET expires_at = now() - interval '1 second'
      WHERE created_by = ${tenant.agent.id}`.execute(server.db);
  expect((await requestUpload(server, tenant.agent)).id).toEqual(expect.any(String));
  expect((await requestUpload(server, tenant.admin)).id).toEqual(expect.any(String));
});
