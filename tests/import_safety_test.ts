/**
 * The safety features on imports: previewBulkImport (nothing written, a previewToken bound to
 * the rows), rollbackBulkOperation (created tickets deleted, updated ones restored, CONFLICT
 * for those changed since unless forced), retryFailedItems (rows that failed for a reason that
 * went away are imported by the retry, into the ids the import reserved).
 */
import { expect } from "expect";
import { sql } from "kysely";
import { dbIdOf, RETRY, ROLLBACK } from "./helpers/api.ts";
import { finished, waitFor } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import {
  importedTickets,
  importFootprint,
  itemOutcomes,
  multipart,
  PREVIEW_IMPORT,
  startImport,
  startImportFile,
} from "./helpers/imports.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";

const env = { WORKERS: "1", BULK_CHUNK_SIZE: "2", BULK_MAX_STARTS_PER_MINUTE: "1000" };

async function child(server: TestServer, user: TestUser, query: string, variables: Record<string, unknown>) {
  const result = await gql(server.graphqlUrl, user.token, query, variables);
  const payload = Object.values(result.data ?? {})[0] as { bulkOperation: { id: string } | null; userErrors: [] };
  expect(payload.userErrors).toEqual([]);
  return await waitFor(server.db, dbIdOf(payload.bulkOperation!.id), finished);
}

Deno.test("previewBulkImport judges every row, writes nothing, and its token starts exactly those rows", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const csv = "title,priority,externalId\nOne,HIGH,p1\nTwo,SOMETIMES,p2\nThree,,p3\n";
  const before = await importFootprint(db);
  const response = await multipart(server, tenant.agent, PREVIEW_IMPORT, { format: "CSV" }, csv);
  const { preview, userErrors } = (await response.json()).data.previewBulkImport;
  expect(userErrors).toEqual([]);
  expect({ ...preview, previewToken: typeof preview.previewToken, sample: preview.sample.length }).toEqual({
    previewToken: "string",
    matchedCount: 3,
    wouldChange: 2,
    wouldSkip: 0,
    wouldFail: 1,
    predictedByCode: [{ code: "INVALID_FIELD", count: 1 }],
    sample: 3,
  });
  expect(preview.sample[0].after).toMatchObject({ title: "One", priority: "HIGH", externalId: "p1" });
  expect(await importFootprint(db)).toEqual(before);

  const other = await startImportFile(server, tenant.agent, {
    format: "CSV",
    previewToken: preview.previewToken,
  }, csv.replace("Three", "Four"));
  expect(other.userErrors.map((e) => e.code)).toEqual(["PREVIEW_MISMATCH"]);
  const started = await startImportFile(
    server,
    tenant.agent,
    { format: "CSV", previewToken: preview.previewToken },
    csv,
  );
  expect(started.userErrors).toEqual([]);
  const op = await waitFor(db, dbIdOf(started.bulkOperation!.id), finished);
  expect({ succeeded: op.succeeded, failed: op.failed, codes: op.error_counts }).toEqual({
    succeeded: 2,
    failed: 1,
    codes: { INVALID_FIELD: 1 },
  });
  expect((await importedTickets(db, tenant.id)).map((t) => t.title)).toEqual(["One", "Three"]);
});

Deno.test("rollback of an UPSERT import deletes what it created and restores what it updated; changed since is a CONFLICT unless forced", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const seed = await startImport(server, tenant.agent, {
    source: { rows: [{ title: "Kept", externalId: "k", priority: "LOW" }, { title: "Other", externalId: "o" }] },
  });
  await waitFor(db, dbIdOf(seed.bulkOperation!.id), finished);
  const seeded = await importedTickets(db, tenant.id);
  const upsert = await startImport(server, tenant.agent, {
    mode: "UPSERT",
    source: {
      rows: [
        { externalId: "k", title: "Kept, renamed", priority: "URGENT", body: "new body" },
        { externalId: "n1", title: "New one" },
        { externalId: "n2", title: "New two" },
        { externalId: "o", title: "Other, renamed" },
      ],
    },
  });
  const parentId = upsert.bulkOperation!.id;
  const parent = await waitFor(db, dbIdOf(parentId), finished);
  expect(parent.succeeded).toBe(4);
  const imported = await importedTickets(db, tenant.id);
  const n2 = imported.find((t) => t.external_id === "n2")!;
  // Changed since the import: n2 gets a comment, "o" a new title.
  await sql`INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body)
      VALUES (${tenant.id}, ${n2.id}, ${tenant.agent.id}, 'a reply')`.execute(db);
  await sql`UPDATE tickets SET title = 'Edited by hand', version = version + 1
      WHERE tenant_id = ${tenant.id} AND external_id = 'o'`.execute(db);

  const rollback = await child(server, tenant.agent, ROLLBACK, { id: parentId });
  expect({ succeeded: rollback.succeeded, skipped: rollback.skipped, codes: rollback.error_counts }).toEqual({
    succeeded: 2,
    skipped: 2,
    codes: { CONFLICT: 2 },
  });
  const after = await importedTickets(db, tenant.id);
  expect(after.map((t) => t.external_id)).toEqual(["k", "o", "n2"]);
  expect(after[0]).toEqual(seeded[0]); // restored exactly: title, body, priority
  expect(after[1].title).toBe("Edited by hand"); // the CONFLICT was kept

  const forced = await child(server, tenant.agent, ROLLBACK, { id: parentId, force: true });
  expect({ succeeded: forced.succeeded, total: forced.total }).toEqual({ succeeded: 2, total: 2 });
  expect(await importedTickets(db, tenant.id)).toEqual(seeded);
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ticket_comments`.execute(db);
  expect(rows[0].n).toBe(0);
});

Deno.test("retryFailedItems of an import imports the rows whose assignee exists now, into the reserved ids", async () => {
  await using server = await startTestServer({ env });
  const { db, tenant } = server;
  const email = `late-${crypto.randomUUID()}@test.example`;
  const csv = `title,assignee\nFirst,${tenant.agent.email}\nSecond,${email}\nThird,${email}\n`;
  const payload = await startImportFile(server, tenant.agent, { format: "CSV" }, csv);
  const parentId = payload.bulkOperation!.id;
  const parent = await waitFor(db, dbIdOf(parentId), finished);
  expect(parent.error_counts).toEqual({ UNKNOWN_ASSIGNEE: 2 });
  const reserved = (await itemOutcomes(db, dbIdOf(parentId))).slice(1).map((i) => i.target_id);

  const user = await db.insertInto("users").values({ tenant_id: tenant.id, email, name: "Late", role: "AGENT" })
    .returning("id").executeTakeFirstOrThrow();
  const retry = await child(server, tenant.agent, RETRY, { id: parentId });
  expect({ succeeded: retry.succeeded, failed: retry.failed, total: retry.total }).toEqual({
    succeeded: 2,
    failed: 0,
    total: 2,
  });
  const tickets = await importedTickets(db, tenant.id);
  expect(tickets.map((t) => [t.title, t.assignee_id])).toEqual([
    ["First", tenant.agent.id],
    ["Second", user.id],
    ["Third", user.id],
  ]);
  expect(tickets.slice(1).map((t) => t.id)).toEqual(reserved);
});
