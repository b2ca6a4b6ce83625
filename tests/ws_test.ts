/**
 * The graphql-ws handshake on /graphql with a real `createClient`: the token travels in the
 * connection_init payload. A good token runs queries and mutations (roles apply as over
 * HTTP); no token closes the socket with 4401, an unknown or revoked one with 4403.
 */
import { expect } from "expect";
import { type Client, createClient } from "graphql-ws";
import { revokeToken } from "../src/auth/tokens.ts";
import { startTestServer } from "./helpers/server.ts";
import { CREATE_TICKET } from "./helpers/tickets.ts";

interface Outcome {
  data: unknown[];
  errors: unknown[];
  /** The CloseEvent (or Error) the operation failed with, if it failed. */
  failure?: { code?: number; reason?: string };
}

function client(url: string, connectionParams: Record<string, unknown>): Client {
  return createClient({ url, lazy: true, retryAttempts: 0, connectionParams });
}

/** Runs one operation to its end and reports what came back. */
function run(c: Client, query: string, variables: Record<string, unknown> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { data: [], errors: [] };
    const timer = setTimeout(() => resolve({ ...outcome, failure: { reason: "timeout" } }), 10_000);
    c.subscribe({ query, variables }, {
      next: (value) => {
        if (value.data) outcome.data.push(value.data);
        if (value.errors) outcome.errors.push(...value.errors);
      },
      error: (error) => {
        clearTimeout(timer);
        const e = error as { code?: number; reason?: string };
        resolve({ ...outcome, failure: { code: e.code, reason: e.reason } });
      },
      complete: () => {
        clearTimeout(timer);
        resolve(outcome);
      },
    });
  });
}

const VIEWER = "{ viewer { user { email role } } }";

Deno.test("graphql-ws: a good token works, no token closes 4401, a bad or revoked one 4403", async (t) => {
  await using server = await startTestServer({ tickets: 3 });
  await using clients = new AsyncDisposableStack(); // every socket a step opens, closed when the test ends
  const open = (params: Record<string, unknown>) => {
    const c = client(server.wsUrl, params);
    clients.defer(() => c.dispose());
    return c;
  };
  await t.step("a good token: queries and mutations over the socket", async () => {
    const agent = open({ authorization: `Bearer ${server.tenant.agent.token}` });
    expect(await run(agent, VIEWER)).toEqual({
      data: [{ viewer: { user: { email: server.tenant.agent.email, role: "AGENT" } } }],
      errors: [],
    });
    const created = await run(agent, CREATE_TICKET, { input: { title: "over a websocket" } });
    expect(created.errors).toEqual([]);
    expect(created.data).toEqual([{
      createTicket: {
        ticket: expect.objectContaining({ title: "over a websocket", status: "OPEN" }),
        userErrors: [],
      },
    }]);
    // Several operations share the one connection.
    const both = await Promise.all([run(agent, VIEWER), run(agent, "{ tickets(first: 2) { edges { cursor } } }")]);
    expect(both.map((o) => o.errors)).toEqual([[], []]);
    // "Authorization" capitalised is accepted as well.
    expect((await run(open({ Authorization: `Bearer ${server.tenant.admin.token}` }), VIEWER)).data).toEqual([
      { viewer: { user: { email: server.tenant.admin.email, role: "ADMIN" } } },
    ]);
  });

  await t.step("roles apply: a viewer's mutation is FORBIDDEN and writes nothing", async () => {
    const before = await server.db.selectFrom("tickets").select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    const viewer = open({ authorization: `Bearer ${server.tenant.viewer.token}` });
    const outcome = await run(viewer, CREATE_TICKET, { input: { title: "nope" } });
    expect(outcome.failure).toBeUndefined();
    expect(outcome.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: "FORBIDDEN" }) }),
    ]);
    const after = await server.db.selectFrom("tickets").select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  await t.step("no token: closed with 4401", async () => {
    for (const params of [{}, { authorization: "" }, { authorization: "Basic abc" }, { authorization: 42 }]) {
      const outcome = await run(open(params), VIEWER);
      expect({ params, outcome }).toEqual({
        params,
        outcome: { data: [], errors: [], failure: expect.objectContaining({ code: 4401 }) },
      });
    }
  });

  await t.step("an unknown token: closed with 4403", async () => {
    for (const token of ["bo_neverMinted", "garbage", `${server.tenant.agent.token}x`]) {
      const outcome = await run(open({ authorization: `Bearer ${token}` }), VIEWER);
      expect(outcome).toEqual({ data: [], errors: [], failure: expect.objectContaining({ code: 4403 }) });
    }
  });

  await t.step("a revoked token: closed with 4403", async () => {
    const token = server.otherTenant.agent.token;
    expect((await run(open({ authorization: `Bearer ${token}` }), VIEWER)).errors).toEqual([]);
    await revokeToken(server.db, token);
    const outcome = await run(open({ authorization: `Bearer ${token}` }), VIEWER);
    expect(outcome).toEqual({ data: [], errors: [], failure: expect.objectContaining({ code: 4403 }) });
  });

  await t.step("a token revoked while its socket is open: the next subscribe closes it with 4403", async () => {
    const token = server.otherTenant.admin.token;
    const socket = open({ authorization: `Bearer ${token}` });
    expect((await run(socket, VIEWER)).errors).toEqual([]);
    await revokeToken(server.db, token);
    const outcome = await run(socket, VIEWER);
    expect(outcome).toEqual({ data: [], errors: [], failure: expect.objectContaining({ code: 4403 }) });
  });
});
