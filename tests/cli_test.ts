/**
 * The terminal client (`deno task cli`), spawned as a subprocess against the real test server
 * exactly as the task runs it: output, --json, and exit codes. Plus its pure parts (argument
 * parsing, the progress line).
 */
import { expect } from "expect";
import { sql } from "kysely";
import { parseAction, parseFilter, parseStartInput, parseTargets, UsageError } from "../src/cli/args.ts";
import { bar, type Operation, progressLine, summary } from "../src/cli/format.ts";
import { parse } from "../src/cli/args.ts";
import { TicketsDocument } from "../src/clients/generated/graphql.ts";
import { dbIdOf } from "./helpers/api.ts";
import { runSubprocess, taskFlags } from "./helpers/subprocess.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { tempDir } from "./helpers/temp_dir.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno task cli` with the task's own permissions (read from deno.json). */
const task = await taskFlags("cli");

async function cli(server: TestServer | null, token: string | null, ...args: string[]): Promise<Run> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (token !== null) env.BULK_TOKEN = token;
  if (server) env.BULK_URL = server.url;
  const { code, stdout, stderr } = await runSubprocess(
    Deno.execPath(),
    ["run", ...task, new URL("../src/cli/main.ts", import.meta.url).pathname, ...args],
    { env, clearEnv: true },
    120_000,
    `deno task cli ${args.join(" ")} exits`,
  );
  return { code, stdout, stderr };
}

const fakeOp = (over: Partial<Operation> = {}): Operation => ({
  id: "op1",
  kind: "STANDARD",
  status: "RUNNING",
  actionType: "SET_STATUS",
  description: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  startedAt: "2026-01-01T00:00:00.000Z",
  finishedAt: null,
  scheduledAt: null,
  cancelRequestedAt: null,
  percent: 45,
  throughput: 3200,
  estimatedCompletionAt: null,
  createdBy: null,
  parent: null,
  counts: { total: 10000, processed: 4500, succeeded: 4400, failed: 50, skipped: 50, cancelled: 0, pending: 5500 },
  errorSummary: [{ code: "NOT_FOUND", count: 50 }, { code: "NO_CHANGE", count: 50 }],
  ...over,
});

Deno.test("cli parsing: targets, filter lists, exactly one action", () => {
  const flags = (...argv: string[]) => parse(["start", ...argv]).flags;
  expect(parseFilter(["status=OPEN,pending,priority=HIGH,unassigned", "title=printer"])).toEqual({
    status: ["OPEN", "PENDING"],
    priority: ["HIGH"],
    unassigned: true,
    titleContains: "printer",
  });
  expect(parseTargets(flags("--ids", "a,b", "--ids", "c"))).toEqual({ ids: ["a", "b", "c"] });
  expect(() => parseTargets(flags("--ids", "a", "--filter", "status=OPEN"))).toThrow(UsageError);
  expect(() => parseFilter(["colour=red"])).toThrow(/unknown key "colour"/);
  expect(parseAction(flags("--set-status", "resolved"))).toEqual({ setStatus: { status: "RESOLVED" } });
  expect(parseAction(flags("--unassign"))).toEqual({ assign: { assigneeId: null } });
  expect(parseAction(flags("--delete", "--reason", "spam"))).toEqual({ delete: { reason: "spam" } });
  expect(() => parseAction(flags("--delete", "--restore"))).toThrow(/more than one action/);
  expect(() => parseAction(flags())).toThrow(/no action/);
  expect(parseStartInput(flags("--ids", "x", "--comment", "hi", "--scheduled-at", "2030-01-01T00:00:00Z")))
    .toEqual({
      targets: { ids: ["x"] },
      action: { addComment: { body: "hi" } },
      scheduledAt: "2030-01-01T00:00:00.000Z",
    });
});

Deno.test("cli progress line: bar, percent, counts, rate, ETA, status; summary with the error breakdown", () => {
  expect(bar(45, 20)).toBe("[#########...........]");
  expect(bar(100, 10)).toBe("[##########]");
  const now = Date.parse("2026-01-01T00:00:10.000Z");
  const line = progressLine(fakeOp({ estimatedCompletionAt: "2026-01-01T00:00:12.000Z" }), 3200, 120, now);
  expect(line).toMatch(
    /^\[#+\.+\] {2}45\.0% {2}4,500\/10,000 {2}ok 4,400 failed 50 skipped 50 {2}3,200\/s {2}ETA 2\.0s {2}RUNNING$/,
  );
  // Without a server estimate: remaining / rate.
  expect(progressLine(fakeOp(), 1100, 120, now)).toContain("ETA 5.0s");
  expect(progressLine(fakeOp({ throughput: null }), null, 120, now)).toContain("-/s  ETA -");
  const done = summary(fakeOp({ status: "COMPLETED_WITH_ERRORS", finishedAt: "2026-01-01T00:00:03.500Z" }));
  expect(done.split("\n")).toEqual([
    "op1 COMPLETED_WITH_ERRORS in 3.5s: 4,400 succeeded, 50 failed, 50 skipped, 0 cancelled of 10,000",
    "errors:",
    "  NOT_FOUND            50",
    "  NO_CHANGE            50",
  ]);
});

Deno.test("cli against the server: start, watch, list, show, cancel, retry, rollback, preview, exit codes", async (t) => {
  await using server = await startTestServer({ tickets: 60, env: { WORKERS: "1", BULK_CHUNK_SIZE: "10" } });
  const agent = server.tenant.agent.token;
  // Closed tickets are read-only (FORBIDDEN): work on the others.
  const page = await gql(server.graphqlUrl, agent, TicketsDocument, {
    first: 100,
    filter: { status: ["OPEN", "PENDING", "RESOLVED"] },
  });
  const ids = page.data!.tickets.edges.map((edge) => edge.node.id);
  expect(ids.length).toBeGreaterThanOrEqual(30);
  const missing = btoa("Ticket:999999999").replace(/=+$/, "");

  await t.step("usage errors exit 2; no token exits 2", async () => {
    const noToken = await cli(server, null, "list");
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("BULK_TOKEN");
    const twoActions = await cli(server, agent, "start", "--ids", ids[0], "--delete", "--restore");
    expect(twoActions.code).toBe(2);
    expect(twoActions.stderr).toContain("more than one action");
    const unknown = await cli(server, agent, "frobnicate");
    expect(unknown.code).toBe(2);
    const help = await cli(null, null, "--", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: deno task cli");
  });

  await t.step("list with no operations", async () => {
    const run = await cli(server, agent, "list");
    expect(run).toMatchObject({ code: 0, stdout: "no operations\n" });
  });

  let withErrors = "";
  await t.step("start --watch: progress lines on stderr (not a TTY), summary with errors, exit 4", async () => {
    const run = await cli(
      server,
      agent,
      "start",
      "--ids",
      [...ids.slice(0, 30), missing].join(","),
      "--set-category",
      "billing",
      "--description",
      "cli test",
      "--watch",
    );
    expect(run.stdout).toMatch(/^started \S+ (QUEUED|RUNNING) \(SET_CATEGORY, 31 targets\)\n/);
    withErrors = run.stdout.split(" ")[1];
    const lines = run.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(
      /^\[#+\] 100\.0% {2}31\/31 {2}ok \d+ failed 1 skipped \d+ {2}[\d.,]+\/s {2}ETA - {2}COMPLETED_WITH_ERRORS$/,
    );
    expect(run.stdout).toContain(`${withErrors} COMPLETED_WITH_ERRORS`);
    expect(run.stdout).toMatch(/\nerrors:\n( {2}[A-Z_]+ +\d+\n)* {2}NOT_FOUND +1\n/);
    expect(run.code).toBe(4);
  });

  await t.step("watch of a finished operation: one event, the summary, the same exit code", async () => {
    const run = await cli(server, agent, "watch", withErrors);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain("100.0%");
    expect(run.stdout).toContain("NOT_FOUND");
    const json = await cli(server, agent, "watch", withErrors, "--json");
    expect(json.code).toBe(4);
    const events = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(events.at(-1)).toMatchObject({ id: withErrors, status: "COMPLETED_WITH_ERRORS", percent: 100 });
  });

  await t.step("start --wait --json by filter: exit 0 on COMPLETED", async () => {
    const run = await cli(
      server,
      agent,
      "start",
      "--filter",
      "status=OPEN,PENDING,RESOLVED",
      "--comment",
      "checked by the cli test",
      "--wait",
      "--json",
    );
    expect(run.stderr).toBe("");
    const last = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(last).toMatchObject({ status: "COMPLETED", actionType: "ADD_COMMENT", percent: 100 });
    expect(last.counts).toMatchObject({ total: ids.length, succeeded: ids.length });
    expect(run.code).toBe(0);
  });

  await t.step("userErrors and GraphQL errors exit 1", async () => {
    const viewer = await cli(server, server.tenant.viewer.token, "start", "--ids", ids[0], "--set-priority", "HIGH");
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/FORBIDDEN/);
    const badEnum = await cli(server, agent, "start", "--ids", ids[0], "--set-priority", "SOMEDAY");
    expect(badEnum.code).toBe(1);
    expect(badEnum.stderr).toContain("SOMEDAY");
    const badToken = await cli(server, "not-a-token", "list");
    expect(badToken.code).toBe(1);
    const unreachable = await cli(null, agent, "list", "--url", "http://127.0.0.1:9");
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("cannot reach http://127.0.0.1:9/graphql");
  });

  await t.step("cancel a scheduled operation; watching it then exits 3", async () => {
    const started = await cli(
      server,
      agent,
      "start",
      "--ids",
      ids[0],
      "--set-priority",
      "LOW",
      "--scheduled-at",
      new Date(Date.now() + 3_600_000).toISOString(),
      "--json",
    );
    expect(started.code).toBe(0);
    const payload = JSON.parse(started.stdout);
    expect(payload).toMatchObject({ replayed: false, userErrors: [], bulkOperation: { status: "SCHEDULED" } });
    const id = payload.bulkOperation.id;
    const cancel = await cli(server, agent, "cancel", id);
    expect(cancel).toMatchObject({ code: 0, stdout: `cancel requested: ${id} CANCELLED\n` });
    const again = await cli(server, agent, "cancel", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("ALREADY_FINISHED");
    const watch = await cli(server, agent, "watch", id);
    expect(watch.code).toBe(3);
  });

  await t.step("list and show", async () => {
    const table = await cli(server, agent, "list");
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID +STATUS +KIND +ACTION +PROGRESS +CREATED +DESCRIPTION$/);
    expect(lines.length).toBe(4);
    const json = await cli(server, agent, "list", "--json", "--status", "completed_with_errors");
    expect(JSON.parse(json.stdout).map((op: Operation) => op.id)).toEqual([withErrors]);
    const show = await cli(server, agent, "show", withErrors);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain("description       cli test");
    expect(show.stdout).toContain("NOT_FOUND");
  });

  await t.step("retry the failed items (they fail again: exit 3), rollback the rest (exit 0)", async () => {
    const retry = await cli(server, agent, "retry", withErrors, "--wait");
    expect(retry.stdout).toMatch(new RegExp(`^retry started \\S+ \\w+ \\(RETRY of ${withErrors}, 1 targets\\)`));
    expect(retry.stdout).toContain("FAILED");
    expect(retry.code).toBe(3);
    const rollback = await cli(server, agent, "rollback", withErrors, "--watch");
    expect(rollback.stdout).toMatch(
      new RegExp(`^rollback started \\S+ \\w+ \\(ROLLBACK of ${withErrors}, \\d+ targets\\)`),
    );
    expect(rollback.stdout).toContain("COMPLETED");
    expect(rollback.code).toBe(0);
    // A rollback cannot itself be rolled back: a userError, exit 1.
    const rollbackId = rollback.stdout.split(" ")[2];
    const ofRollback = await cli(server, agent, "rollback", rollbackId, "--force");
    expect(ofRollback.code).toBe(1);
    expect(ofRollback.stderr).toMatch(/^error ROLLBACK_OF_ROLLBACK/);
  });

  await t.step("preview, then start exactly the previewed targets with its token", async () => {
    const openNow = async () =>
      (await server.db.selectFrom("tickets").select("id").where("tenant_id", "=", server.tenant.id)
        .where("status", "=", "OPEN").where("deleted_at", "is", null).orderBy("id").execute()).map((r) => r.id);
    const previewed = await openNow();
    const preview = await cli(server, agent, "preview", "--filter", "status=OPEN", "--set-priority", "URGENT");
    expect(preview.code).toBe(0);
    expect(preview.stdout).toMatch(
      new RegExp(`^matched ${previewed.length}: would change \\d+, skip \\d+, fail \\d+`),
    );
    expect(preview.stdout).toContain("preview token");
    const json = await cli(server, agent, "preview", "--filter", "status=OPEN", "--set-priority", "URGENT", "--json");
    const { previewToken, matchedCount, wouldChange, wouldSkip, wouldFail } = JSON.parse(json.stdout);
    expect(matchedCount).toBe(previewed.length);
    // A ticket created after the preview matches the filter but is not one of its targets.
    const created = await server.db.insertInto("tickets")
      .values({ tenant_id: server.tenant.id, title: "Opened after the preview" }).returning("id")
      .executeTakeFirstOrThrow();
    expect(await openNow()).toEqual([...previewed, created.id]);
    const run = await cli(
      server,
      agent,
      "start",
      "--filter",
      "status=OPEN",
      "--set-priority",
      "URGENT",
      "--preview-token",
      previewToken,
      "--wait",
    );
    expect(run.code).toBe(0);
    const started = new RegExp(`^started (\\S+) \\w+ \\(SET_PRIORITY, ${previewed.length} targets\\)`).exec(
      run.stdout,
    );
    expect(started).not.toBeNull();
    expect(run.stdout).toContain("COMPLETED");
    const operationId = dbIdOf(started![1]);
    const items = await server.db.selectFrom("bulk_operation_items").select("target_id")
      .where("operation_id", "=", operationId).orderBy("position").execute();
    // The frozen list (in the filter's own order, newest first), compared as a set of ids.
    const byNumber = (a: string, b: string) => Number(a) - Number(b);
    expect(items.map((i) => i.target_id).sort(byNumber)).toEqual(previewed);
    const done = await server.db.selectFrom("bulk_operations").select(["succeeded", "skipped", "failed"])
      .where("id", "=", operationId).executeTakeFirstOrThrow();
    expect(done).toEqual({ succeeded: wouldChange, skipped: wouldSkip, failed: wouldFail });
  });
});

Deno.test("cli: works against a server that runs trusted documents only", async () => {
  await using server = await startTestServer({
    tickets: 5,
    env: { GRAPHQL_TRUSTED_DOCUMENTS_ONLY: "1", WORKERS: "1" },
  });
  const agent = server.tenant.agent.token;
  expect(await cli(server, agent, "list")).toMatchObject({ code: 0, stdout: "no operations\n" });
  const tickets = await server.db.selectFrom("tickets").select("id").where("status", "!=", "CLOSED").limit(2)
    .execute();
  const ids = tickets.map((row) => btoa(`Ticket:${row.id}`).replace(/=+$/, "")).join(",");
  // start --watch: a mutation over HTTP, then the progress subscription over graphql-ws, both by hash.
  const run = await cli(server, agent, "start", "--ids", ids, "--set-category", "billing", "--watch");
  expect(run.stderr).not.toContain("PERSISTED_QUERY");
  expect(run.code).toBe(0);
  expect(run.stdout).toContain("COMPLETED");
});

Deno.test("cli import FILE: a staged upload streamed from disk, --watch to the end, failed rows in the summary", async () => {
  await using server = await startTestServer({ env: { WORKERS: "1", BULK_CHUNK_SIZE: "50" } });
  await using dir = await tempDir("cli-import-");
  const agent = server.tenant.agent.token;
  const csv = `${dir.path}/tickets.csv`;
  await Deno.writeTextFile(
    csv,
    "title,priority,externalId\n" + Array.from({ length: 120 }, (_, i) => `Row ${i},HIGH,cli-${i}`).join("\n") +
      "\nBad,SOMETIMES,cli-bad\n",
  );
  const run = await cli(server, agent, "import", csv, "--watch");
  expect(run.stdout).toMatch(/^started import \S+ (QUEUED|RUNNING) \(121 rows\)\n/);
  expect(run.stdout).toMatch(/\nerrors:\n {2}INVALID_FIELD +1\n/);
  expect(run.stderr.trim().split("\n").at(-1)).toMatch(/121\/121 {2}ok 120 failed 1 .*COMPLETED_WITH_ERRORS$/);
  expect(run.code).toBe(4);
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets WHERE external_id LIKE 'cli-%'`
    .execute(server.db);
  expect(rows[0].n).toBe(120);

  // UPSERT of a JSONL file by externalId: the format from the extension.
  const jsonl = `${dir.path}/fix.jsonl`;
  await Deno.writeTextFile(jsonl, JSON.stringify({ externalId: "cli-0", priority: "LOW" }) + "\n");
  const upsert = await cli(server, agent, "import", jsonl, "--mode", "upsert", "--wait");
  expect(upsert.code).toBe(0);
  const { rows: [fixed] } = await sql<{ priority: string }>`SELECT priority FROM tickets WHERE external_id = 'cli-0'`
    .execute(server.db);
  expect(fixed.priority).toBe("LOW");

  expect(await cli(server, agent, "import", `${dir.path}/missing.csv`)).toMatchObject({ code: 2 });
  const unknown = await cli(server, agent, "import", `${dir.path}/fix.txt`);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("give --format CSV|JSONL");
});
