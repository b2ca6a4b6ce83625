/**
 * Authentication and roles over real HTTP: a missing, malformed, unknown or revoked token is
 * HTTP 401 + UNAUTHENTICATED and writes nothing; a VIEWER reads but cannot mutate (FORBIDDEN).
 */
import { expect } from "expect";
import { hashToken, mintToken, revokeToken } from "../src/auth/tokens.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import {
  ADD_COMMENT,
  countRows,
  CREATE_TICKET,
  ticketId,
  ticketIdsOf,
  ticketRow,
  UPDATE_TICKET,
} from "./helpers/tickets.ts";

const VIEWER_QUERY = "{ viewer { user { email role } tenant { name } } }";

async function post(url: string, headers: Record<string, string>, query: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("tokens: none, malformed, unknown and revoked are 401 UNAUTHENTICATED; a good one names its user", async (t) => {
  await using server = await startTestServer({ tickets: 3 });
  const expectUnauthenticated = (result: { status: number; body: Record<string, unknown> }) => {
    expect(result.status).toBe(401);
    expect(result.body.data ?? null).toBeNull();
    expect(result.body.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }) }),
    ]);
  };

  await t.step("a good token", async () => {
    const result = await gql(server.graphqlUrl, server.tenant.admin.token, VIEWER_QUERY);
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      viewer: { user: { email: server.tenant.admin.email, role: "ADMIN" }, tenant: { name: "Tenant A" } },
    });
  });

  await t.step("no Authorization header", async () => {
    expectUnauthenticated(await post(server.graphqlUrl, {}, VIEWER_QUERY));
  });

  await t.step("malformed headers and unknown tokens", async () => {
    const good = server.tenant.admin.token;
    for (
      const header of [
        `Basic ${btoa("admin:secret")}`,
        "Bearer",
        "Bearer ",
        good, // the token without "Bearer "
        `Bearer ${good} extra`,
        "Bearer bo_thisTokenWasNeverMinted",
        "Bearer not-even-our-format",
        `Bearer ${good}x`,
        `Bearer bo_${"a".repeat(5000)}`,
      ]
    ) {
      expectUnauthenticated(await post(server.graphqlUrl, { authorization: header }, VIEWER_QUERY));
    }
  });

  await t.step("a revoked token stops working at once", async () => {
    const token = await mintToken(server.db, server.tenant.agent.id, "to revoke");
    expect((await gql(server.graphqlUrl, token, VIEWER_QUERY)).status).toBe(200);
    expect(await revokeToken(server.db, token)).toBe(true);
    expect(await revokeToken(server.db, token)).toBe(false); // already revoked
    expectUnauthenticated(await post(server.graphqlUrl, { authorization: `Bearer ${token}` }, VIEWER_QUERY));
    // Other tokens of the same user still work.
    expect((await gql(server.graphqlUrl, server.tenant.agent.token, VIEWER_QUERY)).status).toBe(200);
  });

  await t.step("only the SHA-256 of a token is stored", async () => {
    const rows = await server.db.selectFrom("api_tokens").selectAll().where("user_id", "=", server.tenant.admin.id)
      .execute();
    expect(rows.length).toBe(1);
    expect([...rows[0].token_hash]).toEqual([...await hashToken(server.tenant.admin.token)]);
    expect(JSON.stringify(rows)).not.toContain(server.tenant.admin.token.slice(3));
  });

  await t.step("an unauthenticated mutation writes nothing", async () => {
    const [id] = await ticketIdsOf(server.db, server.tenant.id);
    const before = await ticketRow(server.db, id);
    const tickets = await countRows(server.db, "tickets");
    const comments = await countRows(server.db, "ticket_comments");
    for (
      const [query, input] of [
        [CREATE_TICKET, { title: "sneaky" }],
        [UPDATE_TICKET, { id: ticketId(id), title: "sneaky" }],
        [ADD_COMMENT, { ticketId: ticketId(id), body: "sneaky" }],
      ] as const
    ) {
      for (const token of [null, "bo_unknown"]) {
        const result = await gql(server.graphqlUrl, token, query, { input });
        expect(result.status).toBe(401);
        expect(result.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
        expect(result.data ?? null).toBeNull();
      }
    }
    expect(await ticketRow(server.db, id)).toEqual(before);
    expect(await countRows(server.db, "tickets")).toBe(tickets);
    expect(await countRows(server.db, "ticket_comments")).toBe(comments);
  });
});

Deno.test("roles: a VIEWER reads but every mutation is FORBIDDEN (403) and writes nothing; AGENT and ADMIN may write", async () => {
  await using server = await startTestServer({ tickets: 3 });
  const [id] = await ticketIdsOf(server.db, server.tenant.id);
  const before = await ticketRow(server.db, id);
  const tickets = await countRows(server.db, "tickets");
  const comments = await countRows(server.db, "ticket_comments");
  const viewer = server.tenant.viewer.token;

  const read = await gql(
    server.graphqlUrl,
    viewer,
    "query($id: ID!) { ticket(id: $id) { id } tickets { edges { node { id } } } }",
    {
      id: ticketId(id),
    },
  );
  expect(read.errors).toBeUndefined();
  expect(read.data.ticket).toEqual({ id: ticketId(id) });
  expect(read.data.tickets.edges.length).toBe(3);

  for (
    const [name, query, input] of [
      ["createTicket", CREATE_TICKET, { title: "from a viewer" }],
      ["updateTicket", UPDATE_TICKET, { id: ticketId(id), status: "PENDING" }],
      ["addComment", ADD_COMMENT, { ticketId: ticketId(id), body: "from a viewer" }],
    ] as const
  ) {
    const result = await gql(server.graphqlUrl, viewer, query, { input });
    expect(result.status).toBe(403);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toEqual([
      expect.objectContaining({ path: [name], extensions: expect.objectContaining({ code: "FORBIDDEN" }) }),
    ]);
  }
  expect(await ticketRow(server.db, id)).toEqual(before);
  expect(await countRows(server.db, "tickets")).toBe(tickets);
  expect(await countRows(server.db, "ticket_comments")).toBe(comments);

  for (const user of [server.tenant.agent, server.tenant.admin]) {
    const created = await gql(server.graphqlUrl, user.token, CREATE_TICKET, { input: { title: `by ${user.email}` } });
    expect(created.errors).toBeUndefined();
    expect(created.data.createTicket.userErrors).toEqual([]);
    expect(created.data.createTicket.ticket).toMatchObject({ title: `by ${user.email}`, status: "OPEN", version: 1 });
  }
});
