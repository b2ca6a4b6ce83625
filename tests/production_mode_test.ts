/**
 * Production mode (NODE_ENV=production) and trusted documents (GRAPHQL_TRUSTED_DOCUMENTS_ONLY=1):
 * no anonymous introspection and no GraphiQL, CORS only for CORS_ORIGINS (WebSocket upgrades
 * too), /ready without the database's own error text, and only the codegen manifest's documents
 * run, over HTTP, SSE and graphql-ws, while the CLI's typed client keeps working.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { graphqlUrls, request, subscribe } from "../src/clients/transport.ts";
import { OperationsChangedDocument, WhoAmIDocument } from "../src/clients/generated/graphql.ts";
import { within } from "./helpers/api.ts";
import { gql } from "./helpers/graphql.ts";
import { connectClient } from "./helpers/pg_client.ts";
import { startTestServer } from "./helpers/server.ts";
import { openSse, socket } from "./helpers/sockets.ts";

const INTROSPECTION = "{ __schema { queryType { name } } }";

Deno.test("production: introspection needs a token, GraphiQL is off, CORS follows CORS_ORIGINS", async (t) => {
  await using server = await startTestServer({
    env: { NODE_ENV: "production", CORS_ORIGINS: "https://console.example" },
  });
  await t.step("anonymous introspection: 401 UNAUTHENTICATED; with a token it works", async () => {
    const anonymous = await gql(server.graphqlUrl, null, INTROSPECTION);
    expect(anonymous.status).toBe(401);
    expect(anonymous.data ?? null).toBeNull();
    expect(anonymous.errors).toEqual([
      expect.objectContaining({
        message: "Introspection needs a valid API token in production.",
        extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }),
      }),
    ]);
    const typed = await gql(server.graphqlUrl, null, '{ __type(name: "Query") { name } }');
    expect(typed.status).toBe(401);
    const authenticated = await gql(server.graphqlUrl, server.tenant.viewer.token, INTROSPECTION);
    expect(authenticated.data).toEqual({ __schema: { queryType: { name: "Query" } } });
  });

  await t.step("no GraphiQL page", async () => {
    const response = await fetch(server.graphqlUrl, { headers: { accept: "text/html" } });
    const text = await response.text();
    expect(text).not.toContain("GraphiQL");
    expect(response.headers.get("content-type") ?? "").not.toContain("text/html");
  });

  await t.step("CORS: the listed origin is allowed, another is not; WebSocket upgrades alike", async () => {
    const preflight = (origin: string) =>
      fetch(server.graphqlUrl, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
    const allowed = await preflight("https://console.example");
    await allowed.body?.cancel();
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://console.example");
    const other = await preflight("https://evil.example");
    await other.body?.cancel();
    expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example");

    const upgrade = (origin: string) =>
      fetch(server.graphqlUrl, {
        headers: {
          origin,
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-version": "13",
          "sec-websocket-key": btoa("0123456789abcdef"),
          "sec-websocket-protocol": "graphql-transport-ws",
        },
      });
    const refused = await upgrade("https://evil.example");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: "Origin not allowed." });
  });
});

Deno.test("production without CORS_ORIGINS: no cross-origin access at all", async () => {
  await using server = await startTestServer({ env: { NODE_ENV: "production" } });
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { origin: "https://elsewhere.example", "content-type": "application/json" },
    body: JSON.stringify({ query: "{ __typename }" }),
  });
  await response.body?.cancel();
  expect(response.headers.get("access-control-allow-origin")).toBeNull();
  // A same-origin page (the dashboard) still opens its socket: the origin the request addressed is the server's
  // http one, not the front door's Unix-socket URL (http+unix://, whose origin is "null").
  // (A raw handshake: the WebSocket constructor cannot set Origin.)
  const url = new URL(server.url);
  using conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  await conn.write(new TextEncoder().encode(
    `GET /graphql HTTP/1.1\r\nHost: ${url.host}\r\nOrigin: ${url.origin}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\n` +
      "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
  ));
  const buffer = new Uint8Array(1024);
  const read = await within(conn.read(buffer), 10_000, "the answer to a same-origin WebSocket upgrade");
  expect(new TextDecoder().decode(buffer.subarray(0, read ?? 0))).toMatch(/^HTTP\/1\.1 101 /);
});

Deno.test("/ready reports an unavailable database without its error text", async () => {
  await using server = await startTestServer();
  const name = new URL(server.databaseUrl).pathname.slice(1);
  expect(await (await fetch(`${server.url}/ready`)).json()).toEqual({ status: "ready", workers: 0 });
  // Drop the server's database from under it: every query now fails with
  // 'database "t_..." does not exist' or a terminated connection.
  {
    await using admin = await connectClient(Deno.env.get("TEST_PG_URL")!);
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  }
  const response = await fetch(`${server.url}/ready`);
  const text = await response.text();
  expect(response.status).toBe(503);
  expect(JSON.parse(text)).toEqual({ status: "not ready", error: "database unavailable" });
  expect(text).not.toContain(name);
});

Deno.test("trusted documents only: ad-hoc documents refused everywhere, the clients' documents served", async (t) => {
  await using server = await startTestServer({ env: { GRAPHQL_TRUSTED_DOCUMENTS_ONLY: "1" } });
  const urls = graphqlUrls(server.url);
  await using ws = socket(server.wsUrl, server.tenant.agent.token);
  await t.step("HTTP: an ad-hoc query is refused before it runs (400 PERSISTED_QUERY_ONLY)", async () => {
    const result = await gql(server.graphqlUrl, server.tenant.agent.token, "{ viewer { user { email } } }");
    expect(result.status).toBe(400);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: "PERSISTED_QUERY_ONLY" }) }),
    ]);
  });

  await t.step("HTTP: an unknown hash is PERSISTED_QUERY_NOT_FOUND", async () => {
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server.tenant.agent.token}` },
      body: JSON.stringify({
        extensions: { persistedQuery: { version: 1, sha256Hash: "sha256:" + "0".repeat(64) } },
      }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: "PERSISTED_QUERY_NOT_FOUND" }) }),
    ]);
  });

  await t.step("the CLI's typed client: its documents run by hash over HTTP and graphql-ws", async () => {
    const who = await request(urls.http, server.tenant.agent.token, WhoAmIDocument, {});
    expect(who.viewer.user.email).toBe(server.tenant.agent.email);
    expect(await within(ws.state, 10_000, "the socket's ack")).toEqual({ connected: true });
    // The dashboard's feed subscription is accepted (no error before the first event).
    const errors: unknown[] = [];
    const stop = subscribe(ws.client, OperationsChangedDocument, {}, {
      next: () => {},
      error: (error) => errors.push(error),
      complete: () => {},
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop();
    expect(errors).toEqual([]);
  });

  await t.step("graphql-ws: an ad-hoc subscribe gets PERSISTED_QUERY_ONLY", async () => {
    const refused = await within(
      new Promise<unknown>((resolve) => {
        ws.client.subscribe({ query: "{ viewer { user { email } } }" }, {
          next: (value) => resolve(value.errors),
          error: resolve,
          complete: () => resolve("complete"),
        });
      }),
      10_000,
      "the ad-hoc subscribe's answer",
    );
    expect(refused).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: "PERSISTED_QUERY_ONLY" }) }),
    ]);
  });

  await t.step("SSE: an ad-hoc subscription is refused too", async () => {
    const response = await openSse(
      server.graphqlUrl,
      server.tenant.agent.token,
      "subscription { bulkOperationsChanged { id } }",
    );
    // Refused, the stream ends at once; run, it would stay open (and the timeout would fail the read).
    const text = await within(response.text(), 10_000, "the refused SSE subscription's whole answer");
    expect(text).toContain("PERSISTED_QUERY_ONLY");
    expect(text).not.toContain('"data"');
  });
  // Nothing ad hoc ran: no internal error, no row written.
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets`.execute(server.db);
  expect(rows[0].n).toBe(0);
});
