/**
 * Write rules shared by every path: who may act on an operation (src/bulk/operator.ts), and the ticket
 * rules the single-ticket mutations apply exactly as the bulk actions do (src/tickets/rules.ts).
 */
import { expect } from "expect";
import { mintToken } from "../src/auth/tokens.ts";
import { CANCEL, operationGid, RETRY, ROLLBACK, startOk } from "./helpers/api.ts";
import { runChunks, ticketIds } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestUser } from "./helpers/server.ts";
import {
  ADD_COMMENT,
  countRows,
  CREATE_TICKET,
  ticketId,
  ticketRow,
  UPDATE_TICKET,
  userId,
} from "./helpers/tickets.ts";

Deno.test("only the creator or an ADMIN may cancel, retry or roll back an operation", async () => {
  await using server = await startTestServer({ tickets: 5 }); // WORKERS=0: operations stay RUNNING
  const { admin, agent } = server.tenant;
  const row = await server.db.insertInto("users").values({
    tenant_id: server.tenant.id,
    email: `colleague-${crypto.randomUUID()}@test.example`,
    name: "A colleague",
    role: "AGENT",
  }).returning("id").executeTakeFirstOrThrow();
  const colleague: TestUser = { id: row.id, email: "", token: await mintToken(server.db, row.id, "test") };
  const input = { targets: { filter: {} }, action: { setPriority: { priority: "HIGH" } } };
  const agents = await startOk(server, agent, input);
  const admins = await startOk(server, admin, input);
  for (const operation of [agents, admins]) {
    for (
      const [name, document] of [["cancelBulkOperation", CANCEL], ["retryFailedItems", RETRY], [
        "rollbackBulkOperation",
        ROLLBACK,
      ]] as const
    ) {
      const result = await gql(server.graphqlUrl, colleague.token, document, { id: operation.id });
      expect({ name, errors: result.errors, userErrors: result.data[name].userErrors }).toEqual({
        name,
        errors: undefined,
        userErrors: [{ code: "FORBIDDEN", field: null, message: expect.stringContaining("creator or an ADMIN") }],
      });
    }
  }
  const events = await server.db.selectFrom("bulk_operations").select(["status", "cancel_requested_at"])
    .execute();
  expect(events.every((o) => o.status === "RUNNING" && o.cancel_requested_at === null)).toBe(true);
  expect(await server.db.selectFrom("bulk_operations").select("id").execute()).toHaveLength(2);

  // The creator may; an ADMIN may act on anyone's.
  const own = await gql(server.graphqlUrl, agent.token, CANCEL, { id: agents.id });
  expect(own.data.cancelBulkOperation.userErrors).toEqual([]);
  const byAdmin = await gql(server.graphqlUrl, admin.token, CANCEL, { id: operationGid(admins.dbId) });
  expect(byAdmin.data.cancelBulkOperation.userErrors).toEqual([]);

  // The creator's own retry and rollback go through (an operation with failed items: OPEN -> CLOSED is
  // not a transition, RESOLVED -> CLOSED is).
  await runChunks(server); // the two cancelled operations end
  const tickets = await ticketIds(server.db, server.tenant.id);
  await server.db.updateTable("tickets").set({ status: "RESOLVED" }).where("id", "in", tickets.slice(0, 2) as never[])
    .execute();
  const closing = await startOk(server, agent, {
    targets: { filter: {} },
    action: { setStatus: { status: "CLOSED" } },
  });
  await runChunks(server);
  const retried = await gql(server.graphqlUrl, agent.token, RETRY, { id: closing.id });
  expect(retried.data.retryFailedItems).toEqual({ bulkOperation: { id: expect.any(String) }, userErrors: [] });
  await runChunks(server);
  const rolledBack = await gql(server.graphqlUrl, agent.token, ROLLBACK, { id: closing.id });
  expect(rolledBack.data.rollbackBulkOperation).toEqual({
    bulkOperation: { id: expect.any(String), kind: "ROLLBACK" },
    userErrors: [],
  });
});

Deno.test("single-ticket mutations: CLOSED is read-only, VIEWERs cannot be assigned (as in bulk)", async () => {
  await using server = await startTestServer({ tickets: 2 });
  const { agent, viewer } = server.tenant;
  const [closed, open] = (await server.db.selectFrom("tickets").select("id").where("tenant_id", "=", server.tenant.id)
    .orderBy("id").execute()).map((t) => t.id);
  await server.db.updateTable("tickets").set({ status: "CLOSED" }).where("id", "=", closed as never).execute();
  const before = await ticketRow(server.db, closed);
  const comments = await countRows(server.db, "ticket_comments");

  const edit = await gql(server.graphqlUrl, agent.token, UPDATE_TICKET, {
    input: { id: ticketId(closed), title: "Edited while closed" },
  });
  expect(edit.data.updateTicket).toEqual({
    ticket: null,
    userErrors: [{ code: "FORBIDDEN", field: null, message: expect.stringContaining("read-only") }],
  });
  const comment = await gql(server.graphqlUrl, agent.token, ADD_COMMENT, {
    input: { ticketId: ticketId(closed), body: "Comment on a closed ticket" },
  });
  expect(comment.data.addComment).toEqual({
    comment: null,
    ticket: null,
    userErrors: [{ code: "FORBIDDEN", field: null, message: expect.stringContaining("read-only") }],
  });
  expect(await ticketRow(server.db, closed)).toEqual(before);
  expect(await countRows(server.db, "ticket_comments")).toBe(comments);

  // Reopening is the one change a closed ticket takes (with other fields in the same patch).
  const reopen = await gql(server.graphqlUrl, agent.token, UPDATE_TICKET, {
    input: { id: ticketId(closed), status: "OPEN", title: "Reopened" },
  });
  expect(reopen.data.updateTicket.userErrors).toEqual([]);
  expect(reopen.data.updateTicket.ticket).toMatchObject({ status: "OPEN", title: "Reopened" });

  const openBefore = await ticketRow(server.db, open);
  const assign = await gql(server.graphqlUrl, agent.token, UPDATE_TICKET, {
    input: { id: ticketId(open), assigneeId: userId(viewer.id) },
  });
  expect(assign.data.updateTicket.userErrors).toEqual([
    { code: "INVALID_INPUT", field: ["input", "assigneeId"], message: "Viewers cannot be assigned tickets." },
  ]);
  expect(await ticketRow(server.db, open)).toEqual(openBefore);
  const create = await gql(server.graphqlUrl, agent.token, CREATE_TICKET, {
    input: { title: "New", assigneeId: userId(viewer.id) },
  });
  expect(create.data.createTicket.userErrors[0].code).toBe("INVALID_INPUT");
  expect(await countRows(server.db, "tickets")).toBe(2);
});
