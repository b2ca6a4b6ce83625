/**
 * Connections are bounded per token (docs/security.md "Connections, tokens and production mode"):
 * graphql-ws sockets (close 4008), operations per socket (TOO_MANY_SUBSCRIPTIONS), SSE streams
 * (429 TOO_MANY_STREAMS); sockets without a valid token are closed after the init deadline (4401);
 * a WebSocket message over MAX_BODY_BYTES closes the socket (1009) unparsed; a client that
 * trickles its body is answered 408 and disconnected; a query past GRAPHQL_MAX_EXECUTION_MS
 * gets EXECUTION_TIMEOUT. Real server, real sockets, real TCP.
 */
import { expect } from "expect";
import type { Client } from "graphql-ws";
import { holdTicketLocks, ticketGid, within } from "./helpers/api.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { openSse, socket } from "./helpers/sockets.ts";
import { UPDATE_TICKET } from "./helpers/tickets.ts";

const FEED = "subscription { bulkOperationsChanged { id } }";

/** Starts a subscription; resolves with its first error (or "complete"). */
function firstError(client: Client, query: string): { result: Promise<unknown>; stop: () => void } {
  let stop = () => {};
  const result = new Promise<unknown>((resolve) => {
    stop = client.subscribe({ query }, {
      next: (value) => value.errors && resolve(value.errors),
      error: (error) => resolve(error),
      complete: () => resolve("complete"),
    });
  });
  return { result, stop };
}

/** An open SSE subscription: its status, content type, and `close()` (cancels the body: the client goes away). */
async function sseStream(url: string, token: string, signal: AbortSignal) {
  const response = await openSse(url, token, FEED, signal);
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    close: () => response.body?.cancel(),
  };
}

Deno.test("per-token caps: sockets, operations per socket, SSE streams", async (t) => {
  await using server = await startTestServer({
    env: { WS_MAX_SOCKETS_PER_TOKEN: "3", WS_MAX_SUBSCRIPTIONS_PER_SOCKET: "2", SSE_MAX_STREAMS_PER_TOKEN: "2" },
  });
  const sockets: ReturnType<typeof socket>[] = [];
  const abort = new AbortController();
  // The steps open sockets and streams as they go: when the test ends, the streams are aborted
  // and every socket opened is disposed.
  await using cleanup = new AsyncDisposableStack();
  cleanup.defer(async () => {
    abort.abort();
    await Promise.all(sockets.map((s) => s.dispose()));
  });
  await t.step("a 4th socket of one token is closed 4008; another token still connects", async () => {
    for (let i = 0; i < 3; i++) sockets.push(socket(server.wsUrl, server.tenant.viewer.token));
    expect(await within(Promise.all(sockets.map((s) => s.state)), 10_000, "3 sockets acknowledged")).toEqual(
      [{ connected: true }, { connected: true }, { connected: true }],
    );
    expect(server.app.connections.count("socket")).toBe(3);
    const fourth = socket(server.wsUrl, server.tenant.viewer.token);
    sockets.push(fourth);
    expect(await within(fourth.state, 10_000, "the 4th socket's close")).toEqual({
      connected: false,
      code: 4008,
      reason: "Too many sockets for this token (limit 3)",
    });
    const other = socket(server.wsUrl, server.tenant.agent.token);
    sockets.push(other);
    expect(await within(other.state, 10_000, "another token's socket")).toEqual({ connected: true });
    // A closed socket frees its slot.
    await sockets[0].dispose();
    await waitUntil(() => server.app.connections.count("socket") === 3, "the disposed socket released");
    const again = socket(server.wsUrl, server.tenant.viewer.token);
    sockets.push(again);
    expect(await within(again.state, 10_000, "a socket in the freed slot")).toEqual({ connected: true });
  });

  await t.step("a 3rd operation at once on one socket: TOO_MANY_SUBSCRIPTIONS, the socket stays", async () => {
    const { client } = sockets[1];
    const first = firstError(client, FEED);
    const second = firstError(client, FEED);
    const third = firstError(client, FEED);
    expect(await within(third.result, 10_000, "the 3rd subscription's error")).toEqual([
      expect.objectContaining({
        message: "At most 2 operations may run at once on one socket.",
        extensions: expect.objectContaining({ code: "TOO_MANY_SUBSCRIPTIONS" }),
      }),
    ]);
    // The socket still serves: ending one subscription frees a slot for a query.
    first.stop();
    const query = await within(
      new Promise((resolve) => {
        const data: unknown[] = [];
        client.subscribe({ query: "{ viewer { user { role } } }" }, {
          next: (value) => data.push(value),
          error: resolve,
          complete: () => resolve(data),
        });
      }),
      10_000,
      "a query on the same socket",
    );
    // (Every result carries the caller's cost: extensions.cost, issue 15's throttle.)
    expect(query).toEqual([{
      data: { viewer: { user: { role: "VIEWER" } } },
      extensions: { cost: expect.objectContaining({ requestedQueryCost: 2, actualQueryCost: 2 }) },
    }]);
    second.stop();
  });

  await t.step("a 3rd SSE stream of one token: 429 TOO_MANY_STREAMS with Retry-After", async () => {
    const streams = [
      await sseStream(server.graphqlUrl, server.tenant.admin.token, abort.signal),
      await sseStream(server.graphqlUrl, server.tenant.admin.token, abort.signal),
    ];
    expect(streams.map((s) => [s.status, s.type?.split(";")[0]])).toEqual([
      [200, "text/event-stream"],
      [200, "text/event-stream"],
    ]);
    expect(server.app.connections.count("stream")).toBe(2);
    const refused = await openSse(server.graphqlUrl, server.tenant.admin.token, FEED, abort.signal);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(await refused.json()).toEqual({
      errors: [{
        message: "At most 2 streams may be open at once per token.",
        extensions: { code: "TOO_MANY_STREAMS" },
      }],
    });
    // Another token is unaffected.
    const other = await sseStream(server.graphqlUrl, server.tenant.agent.token, abort.signal);
    expect(other.status).toBe(200);
    // Clients that go away release their slots.
    await Promise.all([...streams, other].map((stream) => stream.close()));
    await waitUntil(() => server.app.connections.count("stream") === 0, "closed streams released");
  });
});

Deno.test("no connection_init (4408) or no valid token (4401) within WS_CONNECTION_INIT_TIMEOUT_MS: closed", async () => {
  await using server = await startTestServer({ env: { WS_CONNECTION_INIT_TIMEOUT_MS: "300" } });
  await using anonymous = socket(server.wsUrl, null);
  // An empty connection_init is acknowledged (GraphiQL sends its token with each subscribe)...
  expect(await within(anonymous.state, 10_000, "the anonymous socket's ack")).toEqual({ connected: true });
  // ...but without a valid token in time the server closes it.
  const started = performance.now();
  expect(await within(anonymous.closed(), 10_000, "the anonymous socket closed by the server")).toEqual({
    code: 4401,
    reason: "Unauthorized: no valid token within 300 ms",
  });
  console.log(`anonymous socket closed ${Math.round(performance.now() - started)} ms after its ack`);
  // A socket that never sends connection_init is closed 4408 by the same deadline.
  const silent = new WebSocket(server.wsUrl, "graphql-transport-ws");
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    silent.onclose = (event) => resolve({ code: event.code, reason: event.reason });
  });
  const opened = performance.now();
  expect(await within(closed, 10_000, "the silent socket closed by the server")).toEqual({
    code: 4408,
    reason: "Connection initialisation timeout",
  });
  expect(performance.now() - opened).toBeLessThan(2500); // graphql-ws's own default would be 3000 ms
});

Deno.test("a 40 MB WebSocket message closes the socket with 1009 and is not executed", async () => {
  await using server = await startTestServer();
  const ws = new WebSocket(server.wsUrl, "graphql-transport-ws");
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (event) => resolve({ code: event.code, reason: event.reason });
  });
  const messages: string[] = [];
  ws.onopen = () => {
    ws.send(JSON.stringify({
      type: "connection_init",
      payload: { authorization: `Bearer ${server.tenant.admin.token}` },
    }));
  };
  ws.onmessage = (event) => {
    messages.push(String(event.data));
    if (JSON.parse(String(event.data)).type !== "connection_ack") return;
    // A valid document padded with a 40 MB comment: executed, it would answer with data.
    const query = `{ viewer { user { email } } } #${"x".repeat(40 * 1024 * 1024)}`;
    ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query } }));
  };
  expect(await within(closed, 60_000, "the socket closed after the 40 MB message")).toEqual({
    code: 1009,
    reason: `Message over ${16 * 1024 * 1024} bytes`,
  });
  expect(messages.map((m) => JSON.parse(m).type)).toEqual(["connection_ack"]);
});

// The request stops holding the handler, is never executed, and the connection is closed (each
// connection carries one request through the front door, src/http/head-deadline.ts).
Deno.test("a slow-loris body is answered 408 within BODY_READ_TIMEOUT_MS, not executed", async () => {
  await using server = await startTestServer({ env: { BODY_READ_TIMEOUT_MS: "500" } });
  const url = new URL(server.url);
  using conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  using stopTrickle = new DisposableStack();
  const trickle = setInterval(() => conn.write(new TextEncoder().encode(" ")).catch(() => {}), 100);
  stopTrickle.defer(() => clearInterval(trickle));
  await conn.write(
    new TextEncoder().encode(
      `POST /graphql HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n`,
    ),
  );
  const started = performance.now();
  const received = await within(
    readUntil(conn, "\0never"),
    10_000,
    "the server's answer and close after the slow body",
  );
  const elapsed = Math.round(performance.now() - started);
  expect(received).toMatch(/^HTTP\/1\.1 408 /);
  expect(received).toContain('"code":"REQUEST_TIMEOUT"');
  expect(elapsed).toBeLessThan(5000);
  console.log(`slow-loris body: 408 after ${elapsed} ms (BODY_READ_TIMEOUT_MS=500)`);
});

/** A raw TCP client holding an unfinished request head: it sends `start`, then a byte every `everyMs` (if given). */
async function slowHead(url: URL, start: string, everyMs?: number) {
  // The clock starts before the connect: the server's deadline runs from its accept, which may come before this
  // thread sees the connect resolve (the door accepts on a thread of its own), so `afterMs` never undercounts it.
  const opened = performance.now();
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  await conn.write(new TextEncoder().encode(start));
  const dribble = everyMs === undefined
    ? undefined
    : setInterval(() => conn.write(new TextEncoder().encode("X")).catch(() => {}), everyMs);
  // Everything the server sends until it closes the connection, and when it closed it.
  const ended = readUntil(conn, "\0never").then((text) => ({ text, afterMs: performance.now() - opened }));
  return {
    ended,
    close() {
      clearInterval(dribble);
      try {
        conn.close();
      } catch { /* closed by the server */ }
    },
    /** `using` closes it when the scope ends. */
    [Symbol.dispose]() {
      this.close();
    },
  };
}

Deno.test("a slow-loris client is disconnected", async () => {
  await using server = await startTestServer({ env: { HEADER_READ_TIMEOUT_MS: "1500" } });
  const url = new URL(server.url);
  // 150 clients dribbling a header byte a second and 150 sending nothing at all, at once.
  using heads = new DisposableStack();
  const clients = (await Promise.all(
    Array.from(
      { length: 300 },
      (_, i) => slowHead(url, i % 2 ? "" : `GET / HTTP/1.1\r\nHost: ${url.host}\r\n`, i % 2 ? undefined : 1000),
    ),
  )).map((client) => heads.use(client));
  // While they are all held, the service answers at once.
  const started = performance.now();
  const health = await within(fetch(`${server.url}/health`), 5000, "/health while 300 heads are held");
  const healthMs = Math.round(performance.now() - started);
  expect(health.status).toBe(200);
  await health.body?.cancel();
  expect(healthMs).toBeLessThan(1000);
  const ends = await within(
    Promise.all(clients.map((c) => c.ended)),
    20_000,
    "the server closing all 300 slow heads",
  );
  for (const end of ends) {
    expect(end.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(end.afterMs).toBeGreaterThan(1400);
  }
  const slowest = Math.round(Math.max(...ends.map((end) => end.afterMs)));
  expect(slowest).toBeLessThan(10_000);
  // A keep-alive client cannot get a second head past the deadline: its connection ends with the first answer.
  const keepAlive = await slowHead(
    url,
    `GET /health HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`,
  );
  const first = await within(keepAlive.ended, 5000, "the keep-alive request's answer and close");
  expect(first.text).toMatch(/^HTTP\/1\.1 200 /);
  expect(first.text.toLowerCase()).toContain("connection: close");
  console.log(
    `slow-loris heads: 300 closed with 408 within ${slowest} ms (HEADER_READ_TIMEOUT_MS=1500); /health ${healthMs} ms meanwhile`,
  );
});

Deno.test("a query running past GRAPHQL_MAX_EXECUTION_MS gets EXECUTION_TIMEOUT", async () => {
  await using server = await startTestServer({ tickets: 1, env: { GRAPHQL_MAX_EXECUTION_MS: "300" } });
  const [{ id }] = await server.db.selectFrom("tickets").select("id").execute();
  // A row lock the test holds: updateTicket waits on it far past the deadline.
  await using _gate = await holdTicketLocks(server.databaseUrl, [id]);
  const started = performance.now();
  const result = await within(
    gql(server.graphqlUrl, server.tenant.agent.token, UPDATE_TICKET, {
      input: { id: ticketGid(id), title: "blocked" },
    }),
    10_000,
    "the blocked mutation's answer",
  );
  const elapsed = performance.now() - started;
  expect(result.errors).toEqual([
    expect.objectContaining({
      message: "The request ran over 300 ms and was stopped.",
      extensions: expect.objectContaining({ code: "EXECUTION_TIMEOUT" }),
    }),
  ]);
  expect(elapsed).toBeLessThan(5000);
});

/** Reads until the text received so far contains `marker` (or the peer closes). */
async function readUntil(conn: Deno.Conn, marker: string): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes(marker)) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
