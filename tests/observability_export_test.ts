/**
 * What the API process exports, observed from outside: it runs as a subprocess (the `start`
 * task's command) with OTEL_DENO=true sending OTLP/HTTP JSON to a receiver this test serves,
 * and with LOG_FORMAT=json. One trace holds the startBulkOperation request and every chunk
 * the worker thread ran for it; every log line is one JSON object carrying the ids in context.
 */
import { expect } from "expect";
import { createDb } from "../src/db/database.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { START, ticketGid, until } from "./helpers/api.ts";
import { freshDatabase } from "./helpers/database.ts";
import { createTenant } from "./helpers/server.ts";
import { spawnApi } from "./helpers/api_process.ts";
import { wsClient } from "./helpers/graphql.ts";
import { within } from "./helpers/wait.ts";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number; doubleValue?: number } }[];
}

/** A real OTLP/HTTP receiver (JSON encoding) on a free loopback port, keeping every span it is sent. */
function otlpReceiver() {
  const spans: OtlpSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = await request.json();
    if (new URL(request.url).pathname === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans);
      }
    }
    return Response.json({});
  });
  // `await using receiver = otlpReceiver()` shuts it down when the scope ends.
  return { url: `http://127.0.0.1:${server.addr.port}`, spans, [Symbol.asyncDispose]: () => server.shutdown() };
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  // OTLP JSON: numbers from JS arrive as doubleValue (intValue would be a string).
  return value?.stringValue ?? value?.doubleValue ??
    (value?.intValue === undefined ? undefined : Number(value.intValue));
};

/** Deno's built-in OpenTelemetry, exporting OTLP/HTTP JSON to the test's receiver (console output not exported). */
const exportingTo = (url: string) => ({
  OTEL_DENO: "true",
  OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
  OTEL_EXPORTER_OTLP_ENDPOINT: url,
  OTEL_SERVICE_NAME: "bulk-ops-test",
  OTEL_DENO_CONSOLE: "ignore",
});

/** A fresh database with a tenant and `tickets` tickets, and the API on it as a subprocess. */
async function apiProcess(tickets: number, env: Record<string, string>) {
  const databaseUrl = await freshDatabase();
  const db = createDb(databaseUrl, { poolSize: 2 });
  const tenant = await createTenant(db, "Exported");
  await insertTickets(db, tenant.id, tickets);
  const ids = await ticketIds(db, tenant.id);
  const api = await spawnApi({
    DATABASE_URL: databaseUrl,
    PORT: "0",
    SEED_DEMO: "0",
    WORKERS: "1",
    BULK_CHUNK_SIZE: "10",
    BULK_EXPORT_CHUNK_SIZE: "10",
    ...env,
  });
  let stopped: Promise<Deno.CommandStatus> | undefined;
  /** SIGTERM, its exit status, the pool closed; once (later calls get the same status). */
  const stop = () =>
    stopped ??= (async () => {
      api.signal("SIGTERM");
      const status = await api.exited;
      await db.destroy();
      return status;
    })();
  return {
    api,
    db,
    tenant,
    ids,
    async start(requestId: string) {
      const response = await fetch(`${api.url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${tenant.admin.token}`,
          "x-request-id": requestId,
        },
        body: JSON.stringify({
          query: START,
          variables: { input: { targets: { ids: ids.map(ticketGid) }, action: { setStatus: { status: "PENDING" } } } },
        }),
      });
      const body = await response.json();
      const operation = body.data?.startBulkOperation?.bulkOperation;
      if (!operation) throw new Error(`start failed: ${JSON.stringify(body)}`);
      const dbId = atob(operation.id.replaceAll("-", "+").replaceAll("_", "/")).split(":")[1];
      await waitFor(db, dbId, finished, 60_000);
      return { dbId, requestIdHeader: response.headers.get("x-request-id") };
    },
    stop,
    /** `await using service = await apiProcess(...)` stops it (once) when the scope ends. */
    [Symbol.asyncDispose]: async () => void await stop(),
  };
}

Deno.test("OTEL_DENO=true: the request's span and its chunks' spans share one trace id, across the job rows", async () => {
  await using receiver = otlpReceiver();
  await using service = await apiProcess(25, {
    ...exportingTo(receiver.url),
    LOG_FORMAT: "json",
  });
  const { dbId } = await service.start("trace-test-1");
  const request = await until(
    "the graphql.request span",
    () =>
      receiver.spans.find((s) => s.name === "graphql.request" && attribute(s, "graphql.operation.name") === "Start"),
  );
  const chunks = await until("3 bulk.chunk spans", () => {
    const found = receiver.spans.filter((s) => s.name === "bulk.chunk" && attribute(s, "bulk.operation.id") === dbId);
    return found.length === 3 ? found : undefined;
  });
  // One trace: each chunk, run in a worker thread from its job row, is a child of the request's span.
  expect(chunks.map((s) => s.traceId)).toEqual([request.traceId, request.traceId, request.traceId]);
  expect(chunks.map((s) => s.parentSpanId)).toEqual([request.spanId, request.spanId, request.spanId]);
  expect(chunks.map((s) => attribute(s, "bulk.chunk.index")).sort()).toEqual([0, 1, 2]);
  expect(chunks.map((s) => attribute(s, "bulk.chunk.items")).sort()).toEqual([10, 10, 5]);
  const succeeded = chunks.reduce((sum, s) => sum + Number(attribute(s, "bulk.chunk.succeeded")), 0);
  const row = await service.db.selectFrom("bulk_operations").select(["succeeded"]).where("id", "=", dbId)
    .executeTakeFirstOrThrow();
  expect(succeeded).toBe(row.succeeded);
  // Deno's own span of the HTTP request is the request span's parent, in the same trace.
  const http = receiver.spans.find((s) => s.spanId === request.parentSpanId);
  expect(http?.traceId).toBe(request.traceId);
  // The log line of the start carries the same trace id.
  const created = service.api.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .find((l) => l.operation === dbId && l.scope === "bulk");
  expect(created?.trace).toBe(request.traceId);
});

Deno.test("OTEL_DENO=true: a startBulkOperation over graphql-ws gets its own request span, which its chunks join", async () => {
  await using receiver = otlpReceiver();
  await using service = await apiProcess(15, {
    ...exportingTo(receiver.url),
  });
  await using client = wsClient(`${service.api.url.replace("http", "ws")}/graphql`, service.tenant.admin.token);
  const input = { targets: { ids: service.ids.map(ticketGid) }, action: { setStatus: { status: "PENDING" } } };
  const result = await within(
    new Promise<{ data?: { startBulkOperation?: { bulkOperation?: { id: string } } } }>((resolve, reject) =>
      client.subscribe({ query: START, variables: { input }, operationName: "Start" }, {
        next: (value) => resolve(value as never),
        error: reject,
        complete: () => {},
      })
    ),
    30_000,
    "startBulkOperation over graphql-ws",
  );
  const gid = result.data?.startBulkOperation?.bulkOperation?.id;
  if (!gid) throw new Error(`start failed: ${JSON.stringify(result)}`);
  const dbId = atob(gid.replaceAll("-", "+").replaceAll("_", "/")).split(":")[1];
  await waitFor(service.db, dbId, finished, 60_000);
  const request = await until(
    "the graphql-ws graphql.request span",
    () => receiver.spans.find((s) => s.name === "graphql.request" && attribute(s, "graphql.transport") === "ws"),
  );
  expect(attribute(request, "graphql.operation.name")).toBe("Start");
  const chunks = await until("2 bulk.chunk spans", () => {
    const found = receiver.spans.filter((s) => s.name === "bulk.chunk" && attribute(s, "bulk.operation.id") === dbId);
    return found.length === 2 ? found : undefined;
  });
  expect(chunks.map((s) => [s.traceId, s.parentSpanId])).toEqual([
    [request.traceId, request.spanId],
    [request.traceId, request.spanId],
  ]);
});

Deno.test("LOG_FORMAT=json: every log line is one JSON object with level, time, message and the ids in context", async () => {
  await using service = await apiProcess(25, { LOG_FORMAT: "json", LOG_LEVEL: "debug" });
  const { dbId, requestIdHeader } = await service.start("json-log-test-7");
  const status = await service.stop();
  expect(status.code).toBe(0);
  expect(requestIdHeader).toBe("json-log-test-7");
  // Not log lines: main.ts's banner for a human (the GraphiQL URL) and Deno's own serve warning.
  const banner = /^(|GraphiQL: .*|Deno\.serve: request\.signal aborts.*)$/;
  const lines = service.api.lines.filter((line) => !banner.test(line));
  expect(lines.length).toBeGreaterThan(5);
  const records = lines.map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`not a JSON line: ${line}`);
    }
  });
  for (const record of records) {
    expect(record).toEqual(expect.objectContaining({
      level: expect.stringMatching(/^(debug|info|warn|error)$/),
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      scope: expect.any(String),
      message: expect.any(String),
    }));
  }
  // The start, inside the request: its request id (the caller's X-Request-Id), tenant and operation.
  expect(records).toContainEqual(expect.objectContaining({
    level: "info",
    scope: "bulk",
    request: "json-log-test-7",
    tenant: service.tenant.id,
    operation: dbId,
  }));
  // Each chunk's line (from the pool, for the thread): tenant, operation, chunk index and worker.
  const chunkLines = records.filter((r) => r.operation === dbId && r.chunk !== undefined);
  expect(chunkLines.map((r) => r.chunk).sort()).toEqual([0, 1, 2]);
  for (const line of chunkLines) {
    expect(line).toEqual(expect.objectContaining({ tenant: service.tenant.id, worker: expect.any(String) }));
  }
  expect(records.at(-1)).toEqual(expect.objectContaining({ scope: "main", message: "stopped" }));
});
