/**
 * The domain seam is real: a second domain that lives only in the tests (notes,
 * tests/helpers/notes-domain.ts) runs start / progress over graphql-ws / cancel / retry /
 * rollback / preview / downloads through the same engine, worker threads and GraphQL API
 * as tickets; and no engine file names the tickets domain.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { encodeId } from "../src/graphql/ids.ts";
import {
  CANCEL,
  gateWaiters,
  holdRowLocks,
  type OperationView,
  PROGRESS,
  RETRY,
  ROLLBACK,
  startOk,
  startOp,
} from "./helpers/api.ts";
import { collect, gql, wsClient } from "./helpers/graphql.ts";
import {
  createNotesTable,
  insertNotes,
  type NoteImage,
  notesBodyDomain,
  notesDomain,
  notesKindsDomain,
} from "./helpers/notes-domain.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { assertServable } from "../src/graphql/schema.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";
import { finished, start, waitFor } from "./helpers/bulk.ts";
import type { StartError, StartInput } from "../src/bulk/start.ts";
import type { BulkDomain } from "../src/bulk/action.ts";
import type { SchemaRequest } from "./helpers/domain-schema-worker.ts";

type ProgressEvent = { bulkOperationProgress: OperationView };

const noteGid = (id: string) => encodeId("Note", id);
const TERMINAL = ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"];

const PREVIEW = `mutation($input: StartBulkOperationInput!) { previewBulkOperation(input: $input) {
  preview { matchedCount wouldChange wouldSkip sample { targetId outcome after } } userErrors { code message } } }`;
const ITEMS = `query($id: ID!) { bulkOperation(id: $id) {
  items(first: 100) { edges { node { position targetId target { id } outcome error { code } before after } } } } }`;

/** Follows an operation over graphql-ws to its terminal state (the subscription completes after it). */
async function followToEnd(server: TestServer, token: string, id: string): Promise<OperationView> {
  await using client = wsClient(server.wsUrl, token);
  const events = await collect<ProgressEvent>(client, PROGRESS, { id }, { timeoutMs: 30_000 });
  const last = events.at(-1)?.bulkOperationProgress;
  if (!last || !TERMINAL.includes(last.status)) {
    throw new Error(`progress of ${id} completed without a terminal state: ${JSON.stringify(last)}`);
  }
  return last;
}

async function notes(server: TestServer): Promise<(NoteImage & { id: string })[]> {
  const { rows } = await sql<NoteImage & { id: string }>`SELECT id::text, priority, body, version FROM notes
    ORDER BY id`.execute(server.db);
  return rows;
}

Deno.test("a test-only notes domain runs start, ws progress, retry, rollback, cancel, preview and downloads through the same API", async () => {
  await using server = await startTestServer({ domain: notesDomain, env: { WORKERS: "1", BULK_CHUNK_SIZE: "10" } });
  await createNotesTable(server.db);
  const ids = await insertNotes(server.db, server.tenant.id, 25);
  // A ticket whose id is also a note's: an item's `target` (a Ticket) must not show it.
  await insertTickets(server.db, server.tenant.id, 1);
  const ticket = await server.db.selectFrom("tickets").select("id").executeTakeFirstOrThrow();
  expect(ids).toContain(String(ticket.id));
  const missing = String(Number(ids.at(-1)) + 1000);
  const token = server.tenant.agent.token;

  // start over explicit ids (one does not exist yet), followed over graphql-ws by the worker thread's progress
  const started = await startOk(server, server.tenant.agent, {
    targets: { ids: [...ids, missing].map(noteGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  const ended = await followToEnd(server, token, started.id);
  expect(ended).toMatchObject({
    status: "COMPLETED_WITH_ERRORS",
    counts: { total: 26, succeeded: 25, failed: 1, pending: 0 },
    errorSummary: [{ code: "NOT_FOUND", count: 1 }],
  });
  expect((await notes(server)).map((n) => n.priority)).toEqual(ids.map(() => "HIGH"));
  const items = await gql(server.graphqlUrl, token, ITEMS, { id: started.id });
  const edges = items.data.bulkOperation.items.edges.map((e: { node: unknown }) => e.node);
  expect(edges.map((e: { target: unknown }) => e.target)).toEqual(edges.map(() => null));
  expect(edges[0]).toMatchObject({
    position: 0,
    targetId: noteGid(ids[0]),
    outcome: "SUCCEEDED",
    before: { priority: "LOW", version: 1 },
    after: { priority: "HIGH", version: 2 },
  });
  expect(edges[25]).toMatchObject({ targetId: noteGid(missing), outcome: "FAILED", error: { code: "NOT_FOUND" } });

  // downloads name the domain's node type
  const download = await fetch(`${server.url}/bulk-operations/${started.id}/items.jsonl`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const lines = (await download.text()).trim().split("\n").map((line) => JSON.parse(line));
  expect(lines.map((line) => line.targetId)).toEqual([...ids, missing].map(noteGid));

  // retry the failed item once its note exists
  await sql`INSERT INTO notes (id, tenant_id) VALUES (${missing}, ${server.tenant.id})`.execute(server.db);
  const retry = await gql(server.graphqlUrl, token, RETRY, { id: started.id });
  expect(retry.data.retryFailedItems.userErrors).toEqual([]);
  expect(await followToEnd(server, token, retry.data.retryFailedItems.bulkOperation.id)).toMatchObject({
    status: "COMPLETED",
    kind: "RETRY",
    counts: { total: 1, succeeded: 1 },
  });

  // roll the first operation back, except a note changed since (CONFLICT)
  await sql`UPDATE notes SET priority = 'URGENT' WHERE id = ${ids[3]}`.execute(server.db);
  const rollback = await gql(server.graphqlUrl, token, ROLLBACK, { id: started.id });
  expect(rollback.data.rollbackBulkOperation.userErrors).toEqual([]);
  expect(await followToEnd(server, token, rollback.data.rollbackBulkOperation.bulkOperation.id)).toMatchObject({
    status: "COMPLETED",
    kind: "ROLLBACK",
    actionType: "ROLLBACK",
    counts: { total: 25, succeeded: 24, skipped: 1 },
    errorSummary: [{ code: "CONFLICT", count: 1 }],
  });
  const restored = await notes(server);
  expect(restored.filter((n) => n.priority === "LOW").length).toBe(24);
  expect(restored.find((n) => n.id === ids[3])?.priority).toBe("URGENT");
  expect(restored.find((n) => n.id === missing)?.priority).toBe("HIGH"); // the retry's own change stays

  // a filter freezes through the domain; its empty result names the domain's targets
  const preview = await gql(server.graphqlUrl, token, PREVIEW, {
    input: { targets: { filter: { priority: ["URGENT"] } }, action: { addComment: { body: "seen" } } },
  });
  expect(preview.data.previewBulkOperation).toMatchObject({
    userErrors: [],
    preview: { matchedCount: 1, wouldChange: 1, sample: [{ targetId: noteGid(ids[3]), outcome: "SUCCEEDED" }] },
  });
  const none = await startOp(server, server.tenant.agent, {
    targets: { filter: { priority: ["NORMAL"] } },
    action: { addComment: { body: "none" } },
  });
  expect(none.userErrors).toEqual([
    { code: "EMPTY_TARGETS", field: ["input", "targets"], message: "No notes match the filter." },
  ]);

  // cancel a scheduled operation: nothing of it runs
  const scheduled = await startOk(server, server.tenant.agent, {
    targets: { filter: {} },
    action: { addComment: { body: "never" } },
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
  expect(scheduled).toMatchObject({ status: "SCHEDULED", counts: { total: 26 } });
  const cancel = await gql(server.graphqlUrl, token, CANCEL, { id: scheduled.id });
  expect(cancel.data.cancelBulkOperation.userErrors).toEqual([]);
  expect(await followToEnd(server, token, scheduled.id)).toMatchObject({
    status: "CANCELLED",
    counts: { total: 26, cancelled: 26 },
  });
  expect((await notes(server)).filter((n) => n.body !== "")).toEqual([]);

  // cancel a running operation: the chunk in flight (held at a locked note) finishes, the rest is CANCELLED
  await using gate = await holdRowLocks(server.databaseUrl, "notes", [ids[15]]);
  const running = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(noteGid) },
    action: { addComment: { body: "cancelled" } },
  });
  await waitUntil(async () => await gateWaiters(server.db) > 0, {
    what: "the second chunk waits at the locked note",
    timeoutMs: 60_000,
  });
  const stop = await gql(server.graphqlUrl, token, CANCEL, { id: running.id });
  expect(stop.data.cancelBulkOperation.userErrors).toEqual([]);
  expect(stop.data.cancelBulkOperation.bulkOperation.status).toBe("CANCELLING");
  await gate.release();
  expect(await followToEnd(server, token, running.id)).toMatchObject({
    status: "CANCELLED",
    counts: { total: 25, succeeded: 20, cancelled: 5, pending: 0 },
  });
  const commented = (await notes(server)).filter((n) => n.body.includes("cancelled")).map((n) => n.id);
  expect(commented.sort()).toEqual(ids.slice(0, 20).sort());
});

Deno.test("IMPORT items are input records keyed at start; EXPORT chunks commit their parts with their items", async () => {
  await using server = await startTestServer({ env: { BULK_CHUNK_SIZE: "10" } });
  // The API cannot serve IMPORT_NOTES and EXPORT_NOTES (assertServable), so this pool runs them alone.
  await using _pool = await startPool(server.config, server.databaseUrl, server.db, 1, notesKindsDomain);
  await createNotesTable(server.db);
  const [existing] = await insertNotes(server.db, server.tenant.id, 1);
  const [foreign] = await insertNotes(server.db, server.otherTenant.id, 1);
  const agent = server.tenant.agent;
  const records = [
    { id: existing, priority: "URGENT", body: "updated" },
    { id: foreign, priority: "URGENT", body: "not yours" },
    ...Array.from({ length: 20 }, (_, i) => ({ priority: "NORMAL", body: `new ${i}` })),
  ];

  // the kind decides the targets it takes
  const refusal = (input: Omit<StartInput, "params">) =>
    start(server, agent, { params: {}, ...input }, notesKindsDomain).then(() => null, (e: StartError) => e.code);
  expect(await refusal({ actionType: "IMPORT_NOTES", targets: { kind: "ids", ids: [existing] } }))
    .toBe("INVALID_INPUT");
  expect(await refusal({ actionType: "EXPORT_NOTES", targets: { kind: "records", records } }))
    .toBe("INVALID_INPUT");
  const withNul = [{ priority: "LOW", body: "a\u0000b" }];
  expect(await refusal({ actionType: "IMPORT_NOTES", targets: { kind: "records", records: withNul } }))
    .toBe("INVALID_INPUT");
  expect(
    await refusal({ actionType: "IMPORT_NOTES", targets: { kind: "records", records: [records[0], records[0]] } }),
  )
    .toBe("INVALID_INPUT");

  const imported = await start(server, agent, {
    actionType: "IMPORT_NOTES",
    params: {},
    targets: { kind: "records", records },
  }, notesKindsDomain);
  expect(await waitFor(server.db, imported.id, finished)).toMatchObject({
    status: "COMPLETED_WITH_ERRORS",
    total: 22,
    succeeded: 21,
    failed: 1,
  });
  const importLedger = await server.db.selectFrom("bulk_operation_items").select(["target_id", "outcome"])
    .where("operation_id", "=", imported.id).orderBy("position").execute();
  expect(importLedger.slice(0, 2).map((i) => [String(i.target_id), i.outcome])).toEqual([
    [existing, "SUCCEEDED"],
    [foreign, "FAILED"],
  ]);
  const created = importLedger.slice(2).map((i) => String(i.target_id));
  const mine = await notes(server);
  expect(mine.find((n) => n.id === existing)).toMatchObject({ priority: "URGENT", body: "updated", version: 2 });
  expect(mine.find((n) => n.id === foreign)).toMatchObject({ priority: "LOW", body: "" }); // untouched
  expect(created.map((id) => mine.find((n) => n.id === id)?.body)).toEqual(records.slice(2).map((r) => r.body));

  const exported = await start(server, agent, {
    actionType: "EXPORT_NOTES",
    params: {},
    targets: { kind: "ids", ids: [existing, ...created] },
  }, notesKindsDomain);
  expect(await waitFor(server.db, exported.id, finished)).toMatchObject({ status: "COMPLETED", succeeded: 21 });
  const parts = await server.db.selectFrom("bulk_operation_parts").select(["chunk_index", "body"])
    .where("operation_id", "=", exported.id).orderBy("chunk_index").execute();
  expect(parts.map((p) => p.chunk_index)).toEqual([0, 1, 2]);
  expect(parts.flatMap((p) => p.body.split("\n"))).toEqual([
    `${existing},URGENT`,
    ...created.map((id) => `${id},NORMAL`),
  ]);
});

Deno.test("the app refuses a domain its schema cannot serve, and serves tickets and notes", () => {
  expect(() => assertServable(notesKindsDomain)).toThrow(
    "The GraphQL schema cannot serve the notes domain: action types IMPORT_NOTES, EXPORT_NOTES are not in its enums.",
  );
  const strangeCode = { ...notesDomain, itemCodes: [...notesDomain.itemCodes, "TOO_LOUD"] };
  expect(() => assertServable(strangeCode)).toThrow("item codes TOO_LOUD are not in its enums.");
  assertServable(ticketsDomain);
  assertServable(notesDomain);
});

Deno.test("no file of the engine (src/bulk) names the tickets domain", async () => {
  const offenders: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (/ticket/i.test(await Deno.readTextFile(url))) offenders.push(url.pathname);
    }
  };
  await walk(new URL("../src/bulk/", import.meta.url));
  expect(offenders).toEqual([]);
});

/** The files of the generic bulk layer: the engine, the bulk GraphQL types and the downloads. */
async function bulkLayerFiles(): Promise<URL[]> {
  const files: URL[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (entry.name.endsWith(".ts")) files.push(url);
    }
  };
  await walk(new URL("../src/bulk/", import.meta.url));
  const types = new URL("../src/graphql/types/", import.meta.url);
  for await (const entry of Deno.readDir(types)) {
    if (/^bulk-.*\.ts$/.test(entry.name)) files.push(new URL(entry.name, types));
  }
  files.push(
    new URL("../src/http/downloads.ts", import.meta.url),
    new URL("../src/http/failed-rows.ts", import.meta.url),
  );
  return files;
}

Deno.test("the bulk layer takes the domain from the services: no import of src/tickets/ or the ticket GraphQL types", async () => {
  const root = new URL("../", import.meta.url);
  const ticketModule = (path: string) => path.startsWith("src/tickets/") || /^src\/graphql\/types\/tickets/.test(path);
  const offenders: string[] = [];
  for (const file of await bulkLayerFiles()) {
    const path = file.pathname.slice(root.pathname.length);
    const text = await Deno.readTextFile(file);
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
      const target = new URL(specifier, file).pathname.slice(root.pathname.length);
      if (ticketModule(target)) offenders.push(`${path} imports ${target}`);
    }
    if (/ticketsDomain|encodeId\("Ticket"|expectId\([^)]*"Ticket"/.test(text)) offenders.push(`${path} names tickets`);
  }
  expect(offenders).toEqual([]);
});

const TICKETS_GRAPHQL = {
  url: new URL("../src/graphql/types/tickets.ts", import.meta.url).href,
  name: "ticketsGraphQL",
};
const NOTES_GRAPHQL = { url: new URL("./helpers/notes-graphql.ts", import.meta.url).href, name: "notesGraphQL" };

/**
 * The SDL of the schema built for `domain` with its GraphQL pieces, in a worker of its own (the
 * builder is one registry per module graph).
 */
async function domainSchema(domain: BulkDomain, graphql: SchemaRequest["graphql"]): Promise<string> {
  using owned = new DisposableStack(); // a Worker is not Disposable: terminated when the scope ends
  const worker = owned.adopt(
    new Worker(new URL("./helpers/domain-schema-worker.ts", import.meta.url), { type: "module" }),
    (started) => started.terminate(),
  );
  const reply = new Promise<{ sdl?: string; error?: string }>((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(new Error(`schema worker for ${domain.target.noun}: ${event.message}`));
  });
  worker.postMessage({ domain: domain.module, graphql } satisfies SchemaRequest);
  const { sdl, error } = await reply;
  if (sdl === undefined) throw new Error(`building the ${domain.target.noun} schema failed: ${error}`);
  return sdl;
}

/** SDL definitions by kind and name ("input BulkActionInput"), so changed and added ones can be named. */
function definitions(sdl: string): Map<string, string> {
  return new Map(
    sdl.trim().split("\n\n").map((block) => {
      const [, kind, name] = /^(type|input|enum|union|interface|scalar|schema) ?(\w*)/m.exec(block) ?? [];
      return [`${kind} ${name}`, block];
    }),
  );
}

Deno.test("an action's own file gives it its GraphQL input and union member: nothing else changes", async () => {
  const [notes, withBody] = await Promise.all([
    domainSchema(notesDomain, NOTES_GRAPHQL),
    domainSchema(notesBodyDomain, NOTES_GRAPHQL),
  ]);
  const before = definitions(notes);
  const after = definitions(withBody);
  expect([...after.keys()].filter((name) => !before.has(name))).toEqual([
    "type SetBodyAction",
    "input SetBodyActionInput",
  ]);
  expect([...before.keys()].filter((name) => !after.has(name))).toEqual([]);
  const changed = [...after.keys()].filter((name) => before.has(name) && before.get(name) !== after.get(name));
  expect(changed).toEqual(["union BulkAction", "input BulkActionInput", "enum BulkActionType"]);
  expect(after.get("type SetBodyAction")).toBe("type SetBodyAction {\n  body: String!\n  type: BulkActionType!\n}");
  expect(after.get("input SetBodyActionInput")).toBe("input SetBodyActionInput {\n  body: String!\n}");
  expect(after.get("input BulkActionInput")).toContain("  setBody: SetBodyActionInput\n");
  expect(after.get("union BulkAction")).toContain(" | SetBodyAction");
  expect(after.get("enum BulkActionType")).toContain("  SET_BODY\n");
  expect(before.get("input SetPriorityActionInput")).toBe(
    "input SetPriorityActionInput {\n  priority: NotePriority!\n}",
  );
});

/** One definition of an SDL ("type BulkOperationItem"), descriptions and blank lines included. */
function definition(sdl: string, name: string): string | undefined {
  return new RegExp(`^${name} [^{\\n]*\\{\\n[\\s\\S]*?^\\}`, "m").exec(sdl)?.[0];
}

Deno.test("a domain's GraphQL module supplies the bulk types' target, filter and item codes", async () => {
  const notes = await domainSchema(notesDomain, NOTES_GRAPHQL);
  expect(definition(notes, "type BulkOperationItem")).toContain("\n  target: Note\n");
  expect(definition(notes, "type BulkPreviewItem")).toContain("\n  target: Note\n");
  expect(definition(notes, "input BulkTargetsInput")).toContain("\n  filter: NoteFilter\n");
  expect(definition(notes, "input NoteFilter")).toBe("input NoteFilter {\n  priority: [NotePriority!]\n}");
  const codes = definition(notes, "enum BulkItemCode")?.split("\n").slice(1, -1).map((line) => line.trim());
  expect(codes).toEqual(["CONFLICT", "INTERNAL", "NOT_FOUND", "NO_CHANGE"]);
});

Deno.test("the served schema is the tickets domain's, as committed in schema.graphql", async () => {
  expect(await domainSchema(ticketsDomain, TICKETS_GRAPHQL)).toBe(
    await Deno.readTextFile(new URL("../schema.graphql", import.meta.url)),
  );
});

Deno.test("worker threads load the domain's actions without the schema builder", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../src/worker-thread.ts", import.meta.url).pathname],
    stdout: "piped",
  });
  const { code, stdout } = await command.output();
  expect(code).toBe(0);
  const modules: string[] = JSON.parse(new TextDecoder().decode(stdout)).modules.map((m: { specifier: string }) =>
    m.specifier
  );
  expect(modules.some((m) => m.endsWith("/src/tickets/actions/set-status.ts"))).toBe(true);
  expect(modules.filter((m) => /@pothos|src\/graphql\/(builder|schema|build-schema)\.ts|src\/graphql\/types\//.test(m)))
    .toEqual([]);
});
