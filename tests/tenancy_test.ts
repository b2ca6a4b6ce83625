/**
 * Every read and write is scoped to the token's tenant: another tenant's ids answer exactly
 * what a missing id answers (same data, same errors, same messages), and change nothing.
 */
import { expect } from "expect";
import { gql, type GraphQLResponse } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import {
  ADD_COMMENT,
  countRows,
  ticketId,
  ticketIdsOf,
  ticketRow,
  TICKETS_PAGE,
  UPDATE_TICKET,
  userId,
} from "./helpers/tickets.ts";

/**
 * The response with every occurrence of `id` replaced, so two answers can be compared whole (their costs
 * included: a foreign id must not cost what an existing one does), the caller's cost bucket level left out.
 */
const normalised = (result: unknown, id: string) => {
  const parsed = JSON.parse(JSON.stringify(result).replaceAll(id, "<ID>"));
  delete parsed.extensions?.cost?.throttleStatus;
  return parsed;
};

/** The answer without its cost report (extensions.cost, checked in cost_throttle_test.ts). */
const withoutCost = (result: GraphQLResponse) => ({ ...result, extensions: undefined });

Deno.test("another tenant's ticket and user ids behave exactly like missing ones", async (t) => {
  await using server = await startTestServer({ tickets: 5 });
  await insertTickets(server.db, server.otherTenant.id, 5);
  const foreign = (await ticketIdsOf(server.db, server.otherTenant.id))[0];
  const missing = "987654321";
  expect(await ticketRow(server.db, missing)).toBeNull();
  const foreignBefore = await ticketRow(server.db, foreign);
  const comments = await countRows(server.db, "ticket_comments");
  const token = server.tenant.admin.token;

  /** Sends the same document for the foreign and the missing id; both answers must be identical. */
  const same = async (query: string, variables: (gid: string) => Record<string, unknown>) => {
    const a = await gql(server.graphqlUrl, token, query, variables(ticketId(foreign)));
    const b = await gql(server.graphqlUrl, token, query, variables(ticketId(missing)));
    expect(normalised(a, ticketId(foreign))).toEqual(normalised(b, ticketId(missing)));
    return a;
  };

  await t.step("ticket(id) and node(id) are null", async () => {
    const result = await same(
      "query($id: ID!) { ticket(id: $id) { id title } node(id: $id) { id } }",
      (id) => ({ id }),
    );
    expect(withoutCost(result)).toEqual({ status: 200, data: { ticket: null, node: null } });
  });

  await t.step("updateTicket: NOT_FOUND, and the foreign row is untouched", async () => {
    const result = await same(UPDATE_TICKET, (id) => ({ input: { id, title: "hijacked", status: "PENDING" } }));
    expect(result.data.updateTicket).toEqual({
      ticket: null,
      userErrors: [{ code: "NOT_FOUND", field: ["input", "id"], message: "No ticket with this id." }],
    });
    await same(UPDATE_TICKET, (id) => ({ input: { id, expectedVersion: 1, priority: "URGENT" } }));
    expect(await ticketRow(server.db, foreign)).toEqual(foreignBefore);
  });

  await t.step("addComment: NOT_FOUND, and no comment is written", async () => {
    const result = await same(ADD_COMMENT, (id) => ({ input: { ticketId: id, body: "hello" } }));
    expect(result.data.addComment).toEqual({
      comment: null,
      ticket: null,
      userErrors: [{ code: "NOT_FOUND", field: ["input", "ticketId"], message: "No ticket with this id." }],
    });
    expect(await countRows(server.db, "ticket_comments")).toBe(comments);
  });

  await t.step("the tickets connection never lists them, whatever the filter", async () => {
    const ours = await gql(server.graphqlUrl, token, TICKETS_PAGE, { first: 100, filter: { includeDeleted: true } });
    expect(ours.data.tickets.edges.length).toBe(5);
    const theirs = new Set((await ticketIdsOf(server.db, server.otherTenant.id)).map(ticketId));
    expect(ours.data.tickets.edges.some((e: { node: { id: string } }) => theirs.has(e.node.id))).toBe(false);
  });

  const userCases = [
    ["another tenant's user", server.otherTenant.agent.id],
    ["a missing user", "00000000-0000-4000-8000-000000000000"],
  ] as const;

  await t.step("filter assigneeId: another tenant's user finds nothing, like a missing user", async () => {
    // Assign some of the other tenant's tickets to their agent: they still must not show.
    await server.db.updateTable("tickets").set({ assignee_id: server.otherTenant.agent.id })
      .where("tenant_id", "=", server.otherTenant.id).execute();
    const answers = [];
    for (const [, id] of userCases) {
      answers.push(
        normalised(
          await gql(server.graphqlUrl, token, TICKETS_PAGE, { first: 10, filter: { assigneeId: userId(id) } }),
          userId(id),
        ),
      );
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0].data.tickets.edges).toEqual([]);
  });

  await t.step("node(id) of a user and assigning a ticket to one: like a missing user", async () => {
    const [own] = await ticketIdsOf(server.db, server.tenant.id);
    const ownBefore = await ticketRow(server.db, own);
    const answers = [];
    for (const [, id] of userCases) {
      const node = await gql(server.graphqlUrl, token, "query($id: ID!) { node(id: $id) { id } }", {
        id: userId(id),
      });
      expect(withoutCost(node)).toEqual({ status: 200, data: { node: null } });
      const assign = await gql(server.graphqlUrl, token, UPDATE_TICKET, {
        input: { id: ticketId(own), assigneeId: userId(id) },
      });
      answers.push(assign.data.updateTicket);
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toEqual({
      ticket: null,
      userErrors: [{ code: "INVALID_INPUT", field: ["input", "assigneeId"], message: expect.any(String) }],
    });
    expect(await ticketRow(server.db, own)).toEqual(ownBefore);
  });
});
