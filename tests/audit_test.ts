/**
 * The audit trail: single-ticket mutations recorded with who, what, when, the request's IP and
 * User-Agent and the token used; ADMINs page through it (newest first), others are FORBIDDEN;
 * a bulk operation's CREATED and CANCEL_REQUESTED events carry the same origin.
 */
import { expect } from "expect";
import { ticketGid } from "./helpers/api.ts";
import { startTestServer } from "./helpers/server.ts";
import { ADD_COMMENT, CREATE_TICKET, UPDATE_TICKET } from "./helpers/tickets.ts";

const AUDIT = `query($first: Int, $after: String) {
  auditEvents(first: $first, after: $after) {
    edges { node { action subject actor { email } data ip userAgent createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** A POST with a chosen User-Agent. */
async function post(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "user-agent": "audit-test/1.0" },
    body: JSON.stringify({ query, variables }),
  });
  return await response.json();
}

Deno.test("audit: createTicket, updateTicket and addComment recorded; ADMINs read them, others cannot", async () => {
  await using server = await startTestServer();
  const agent = server.tenant.agent;
  const created = await post(server.graphqlUrl, agent.token, CREATE_TICKET, { input: { title: "audited" } });
  const ticketId = created.data.createTicket.ticket.id;
  const updated = await post(server.graphqlUrl, agent.token, UPDATE_TICKET, {
    input: { id: ticketId, status: "PENDING", title: "audited, renamed" },
  });
  expect(updated.data.updateTicket.userErrors).toEqual([]);
  await post(server.graphqlUrl, agent.token, ADD_COMMENT, { input: { ticketId, body: "a comment" } });
  // A refused update (version conflict) changes nothing and records nothing.
  const conflict = await post(server.graphqlUrl, agent.token, UPDATE_TICKET, {
    input: { id: ticketId, title: "x", expectedVersion: 99 },
  });
  expect(conflict.data.updateTicket.userErrors).toEqual([expect.objectContaining({ code: "VERSION_CONFLICT" })]);

  const page = await post(server.graphqlUrl, server.tenant.admin.token, AUDIT, { first: 10 });
  expect(page.errors).toBeUndefined();
  const tokenId = (await server.db.selectFrom("api_tokens").select("id").where("user_id", "=", agent.id)
    .executeTakeFirstOrThrow()).id;
  const origin = { ip: "127.0.0.1", userAgent: "audit-test/1.0", actor: { email: agent.email } };
  const events = page.data.auditEvents.edges.map((e: { node: Record<string, unknown> }) => e.node)
    .filter((node: { action: string }) => node.action.startsWith("TICKET") || node.action === "COMMENT_ADDED");
  expect(events).toEqual([
    expect.objectContaining({
      ...origin,
      action: "COMMENT_ADDED",
      subject: ticketId,
      data: { commentId: expect.any(String), tokenId },
    }),
    expect.objectContaining({
      ...origin,
      action: "TICKET_UPDATED",
      subject: ticketId,
      data: { fields: ["status", "title"], version: 2, tokenId },
    }),
    expect.objectContaining({
      ...origin,
      action: "TICKET_CREATED",
      subject: ticketId,
      data: { fields: ["title"], tokenId },
    }),
  ]);
  // The tenant's token mints come first in time (the test users' tokens): newest first means last.
  expect(page.data.auditEvents.edges.at(-1).node.action).toBe("TOKEN_MINTED");

  // Keyset pages: first 2, then the rest, no overlap.
  const first = await post(server.graphqlUrl, server.tenant.admin.token, AUDIT, { first: 2 });
  const rest = await post(server.graphqlUrl, server.tenant.admin.token, AUDIT, {
    first: 100,
    after: first.data.auditEvents.pageInfo.endCursor,
  });
  expect(first.data.auditEvents.pageInfo.hasNextPage).toBe(true);
  expect([...first.data.auditEvents.edges, ...rest.data.auditEvents.edges]).toEqual(page.data.auditEvents.edges);

  // Another tenant's admin sees none of it; an AGENT is FORBIDDEN.
  const other = await post(server.graphqlUrl, server.otherTenant.admin.token, AUDIT, { first: 100 });
  expect(other.data.auditEvents.edges.map((e: { node: { action: string } }) => e.node.action)).not.toContain(
    "TICKET_CREATED",
  );
  const refused = await post(server.graphqlUrl, agent.token, AUDIT, { first: 10 });
  expect(refused.errors).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: "FORBIDDEN" }) }),
  ]);
});

Deno.test("audit: a bulk operation's CREATED and CANCEL_REQUESTED events carry the request's IP and User-Agent", async () => {
  await using server = await startTestServer({ tickets: 3 });
  const ids = (await server.db.selectFrom("tickets").select("id").where("status", "!=", "CLOSED").execute())
    .map((row) => ticketGid(row.id));
  const started = await post(
    server.graphqlUrl,
    server.tenant.agent.token,
    `mutation($input: StartBulkOperationInput!) { startBulkOperation(input: $input) { bulkOperation { id } userErrors { code } } }`,
    {
      input: { targets: { ids }, action: { setPriority: { priority: "HIGH" } }, scheduledAt: "2099-01-01T00:00:00Z" },
    },
  );
  expect(started.data.startBulkOperation.userErrors).toEqual([]);
  const id = started.data.startBulkOperation.bulkOperation.id;
  await post(
    server.graphqlUrl,
    server.tenant.agent.token,
    `mutation($id: ID!) { cancelBulkOperation(input: { id: $id }) { userErrors { code } } }`,
    { id },
  );
  const history = await post(
    server.graphqlUrl,
    server.tenant.agent.token,
    `query($id: ID!) { bulkOperation(id: $id) { events(first: 10) { edges { node { type ip userAgent } } } } }`,
    { id },
  );
  expect(history.errors).toBeUndefined();
  const byType = Object.fromEntries(
    history.data.bulkOperation.events.edges.map((e: { node: { type: string } }) => [e.node.type, e.node]),
  );
  expect(byType.CREATED).toEqual({ type: "CREATED", ip: "127.0.0.1", userAgent: "audit-test/1.0" });
  expect(byType.CANCEL_REQUESTED).toEqual({ type: "CANCEL_REQUESTED", ip: "127.0.0.1", userAgent: "audit-test/1.0" });
});
