/**
 * Token lifetime: a revoked token's open socket and SSE stream are closed by the token sweep
 * within TOKEN_SWEEP_MS (plus one sweep's query); an expired token is refused like an unknown
 * one, and its open socket is closed when it expires; READ_ONLY tokens run no mutation;
 * last_used_at is recorded without a write per request; mint and revoke are audited.
 */
import { expect } from "expect";
import { mintToken, revokeToken, revokeUserTokens } from "../src/auth/tokens.ts";
import { within } from "./helpers/api.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { CREATE_TICKET } from "./helpers/tickets.ts";
import { openSse, socket } from "./helpers/sockets.ts";

const FEED = "subscription { bulkOperationsChanged { id } }";
const VIEWER = "{ viewer { user { email } } }";
const SWEEP_MS = 200;

/** Opens an SSE subscription and returns the text of the whole stream once the server ends it. */
async function sseUntilEnd(url: string, token: string): Promise<{ status: number; text: Promise<string> }> {
  const response = await openSse(url, token, FEED, new AbortController().signal);
  return { status: response.status, text: response.text() };
}

Deno.test("a revoked token's socket and SSE stream are closed within the sweep bound", async () => {
  await using server = await startTestServer({ env: { TOKEN_SWEEP_MS: String(SWEEP_MS) } });
  const user = server.tenant.agent;
  const token = await mintToken(server.db, user.id, "to revoke while streaming");
  await using ws = socket(server.wsUrl, token);
  expect(await within(ws.state, 10_000, "the socket's ack")).toEqual({ connected: true });
  const subscription = new Promise<unknown>((resolve) => {
    ws.client.subscribe({ query: FEED }, { next: () => {}, error: resolve, complete: () => resolve("complete") });
  });
  const stream = await sseUntilEnd(server.graphqlUrl, token);
  expect(stream.status).toBe(200);
  // Both are open and counted before the revocation.
  await waitFor(() => server.app.connections.count("stream") === 1 && server.app.connections.count("socket") === 1);

  const revokedAt = performance.now();
  expect(await revokeToken(server.db, token)).toBe(true);
  const closed = await within(ws.closed(), 10_000, "the revoked token's socket closed by the server");
  const socketMs = Math.round(performance.now() - revokedAt);
  expect(closed).toEqual({ code: 4403, reason: "Forbidden: the token was revoked or expired" });
  const text = await within(stream.text, 10_000, "the revoked token's SSE stream ended by the server");
  const streamMs = Math.round(performance.now() - revokedAt);
  expect(text).toContain('"code":"TOKEN_REVOKED"');
  expect(text).toMatch(/event: complete\ndata:\n\n$/);
  await within(subscription, 10_000, "the socket's subscription ended");
  // Bound: one sweep interval plus its query; generous for a shared 2-core machine.
  expect(socketMs).toBeLessThan(SWEEP_MS + 2000);
  expect(streamMs).toBeLessThan(SWEEP_MS + 2000);
  console.log(
    `revocation: socket closed after ${socketMs} ms, SSE ended after ${streamMs} ms (TOKEN_SWEEP_MS=${SWEEP_MS})`,
  );
  await waitFor(() => server.app.connections.count("socket") + server.app.connections.count("stream") === 0);

  // The other tokens of the tenant are untouched.
  expect((await gql(server.graphqlUrl, server.tenant.admin.token, VIEWER)).errors).toBeUndefined();
});

Deno.test("revoking a user's tokens (deno task token -- --revoke-user) closes all of them", async () => {
  await using server = await startTestServer({ env: { TOKEN_SWEEP_MS: String(SWEEP_MS) } });
  const user = server.tenant.viewer;
  const second = await mintToken(server.db, user.id, "second device");
  await using first = socket(server.wsUrl, user.token);
  await using other = socket(server.wsUrl, second);
  const sockets = [first, other];
  await within(Promise.all(sockets.map((s) => s.state)), 10_000, "both sockets acknowledged");
  expect(await revokeUserTokens(server.db, user.email.toUpperCase())).toBe(2);
  const closes = await within(Promise.all(sockets.map((s) => s.closed())), 10_000, "both sockets closed");
  expect(closes.map((c) => c.code)).toEqual([4403, 4403]);
  expect((await gql(server.graphqlUrl, second, VIEWER)).status).toBe(401);
  expect(await revokeUserTokens(server.db, "nobody@nowhere.example")).toBeNull();
});

Deno.test("an expired token is refused, and its open socket closed when it expires", async () => {
  await using server = await startTestServer({ env: { TOKEN_SWEEP_MS: String(SWEEP_MS) } });
  const user = server.tenant.agent;
  const expired = await mintToken(server.db, user.id, "expired", { expiresAt: new Date(Date.now() - 1000) });
  const result = await gql(server.graphqlUrl, expired, VIEWER);
  expect(result.status).toBe(401);
  expect(result.errors).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }) }),
  ]);
  const refused = socket(server.wsUrl, expired);
  expect(await within(refused.state, 10_000, "the expired token's socket refused")).toEqual(
    expect.objectContaining({ connected: false, code: 4403 }),
  );
  await refused.dispose();

  // A token valid for 1.5 s: works now, and its socket is closed once it has expired.
  const shortLived = await mintToken(server.db, user.id, "short", { expiresAt: new Date(Date.now() + 1500) });
  expect((await gql(server.graphqlUrl, shortLived, VIEWER)).errors).toBeUndefined();
  {
    await using open = socket(server.wsUrl, shortLived);
    expect(await within(open.state, 10_000, "the short-lived token's socket")).toEqual({ connected: true });
    expect(await within(open.closed(), 10_000, "the socket closed at expiry")).toEqual({
      code: 4403,
      reason: "Forbidden: the token was revoked or expired",
    });
  }
  expect((await gql(server.graphqlUrl, shortLived, VIEWER)).status).toBe(401);
});

Deno.test("a READ_ONLY token queries but its mutations are FORBIDDEN and write nothing", async () => {
  await using server = await startTestServer();
  const readOnly = await mintToken(server.db, server.tenant.admin.id, "ro", { scope: "READ_ONLY" });
  expect((await gql(server.graphqlUrl, readOnly, VIEWER)).data).toEqual({
    viewer: { user: { email: server.tenant.admin.email } },
  });
  const result = await gql(server.graphqlUrl, readOnly, CREATE_TICKET, { input: { title: "must not exist" } });
  expect(result.data ?? null).toBeNull();
  expect(result.errors).toEqual([
    expect.objectContaining({
      message: "This token is read-only: it cannot run mutations.",
      extensions: expect.objectContaining({ code: "FORBIDDEN" }),
    }),
  ]);
  const tickets = await server.db.selectFrom("tickets").select("id").where("title", "=", "must not exist").execute();
  expect(tickets).toEqual([]);
});

Deno.test("last_used_at: set on use, then written at most once a minute; mint and revoke are audited", async () => {
  await using server = await startTestServer();
  const user = server.tenant.agent;
  const token = await mintToken(server.db, user.id, "usage");
  const row = () =>
    server.db.selectFrom("api_tokens").select(["id", "last_used_at"]).where("label", "=", "usage")
      .executeTakeFirstOrThrow();
  expect((await row()).last_used_at).toBeNull();
  await gql(server.graphqlUrl, token, VIEWER);
  await waitFor(async () => (await row()).last_used_at !== null);
  const first = (await row()).last_used_at!;
  for (let i = 0; i < 5; i++) await gql(server.graphqlUrl, token, VIEWER);
  // Still the first write: later uses within the minute write nothing.
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect((await row()).last_used_at).toEqual(first);

  expect(await revokeToken(server.db, token)).toBe(true);
  const { id } = await row();
  const audit = await server.db.selectFrom("audit_events").select(["action", "actor_id", "user_agent", "data"])
    .where("subject", "=", id).orderBy("id").execute();
  expect(audit).toEqual([
    {
      action: "TOKEN_MINTED",
      actor_id: null,
      user_agent: "deno task token",
      data: { userId: user.id, label: "usage", scope: "FULL", expiresAt: null },
    },
    { action: "TOKEN_REVOKED", actor_id: null, user_agent: "deno task token", data: { userId: user.id } },
  ]);
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
