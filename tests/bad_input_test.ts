/**
 * Bad input gets a clear, typed error and changes nothing: malformed global ids and cursors,
 * page sizes over 100, unknown enum values, over-long / empty / NUL-carrying strings, bad
 * dates, a stale expectedVersion and a status change the transition table forbids.
 * Queries answer BAD_USER_INPUT (or a GraphQL validation error); mutations answer userErrors.
 * After every case the ticket row, the ticket count and the comment count are unchanged.
 */
import { expect } from "expect";
import { encodeCursor, encodeId } from "../src/graphql/ids.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import {
  ADD_COMMENT,
  countRows,
  CREATE_TICKET,
  ticketId,
  ticketIdsOf,
  ticketRow,
  TICKETS_PAGE,
  UPDATE_TICKET,
} from "./helpers/tickets.ts";

const b64 = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** Snapshot of what a bad request must not change. */
async function state(server: TestServer, id: string) {
  return {
    row: await ticketRow(server.db, id),
    tickets: await countRows(server.db, "tickets"),
    comments: await countRows(server.db, "ticket_comments"),
  };
}

Deno.test("bad input: typed errors, nothing changed", async (t) => {
  await using server = await startTestServer({ tickets: 5 });
  const token = server.tenant.agent.token;
  const [id] = await ticketIdsOf(server.db, server.tenant.id);
  const gid = ticketId(id);
  const before = await state(server, id);
  expect(before.row!.status).toBe("OPEN"); // insertTickets: the newest (g = 5) is OPEN
  const unchanged = async () => expect(await state(server, id)).toEqual(before);

  /** A query that must fail with BAD_USER_INPUT (field-level) and no data for that field. */
  const queryRefused = async (query: string, variables: Record<string, unknown>, field?: string) => {
    const result = await gql(server.graphqlUrl, token, query, variables);
    expect({ variables, errors: result.errors?.map((e) => e.extensions?.code) }).toEqual({
      variables,
      errors: ["BAD_USER_INPUT"],
    });
    expect(result.errors![0].message.length).toBeGreaterThan(5);
    if (field !== undefined) expect(result.errors![0].extensions?.field).toBe(field);
    return result;
  };

  /** A mutation that must answer one userError with this code (and field), and no object. */
  const mutationRefused = async (
    query: string,
    input: Record<string, unknown>,
    code: string,
    field?: string[] | null,
  ) => {
    const result = await gql(server.graphqlUrl, token, query, { input });
    expect({ input, errors: result.errors }).toEqual({ input, errors: undefined });
    const payload = Object.values(result.data)[0] as Record<string, unknown>;
    expect({ input, payload }).toEqual({
      input,
      payload: expect.objectContaining({
        userErrors: [{ code, field: field === undefined ? expect.anything() : field, message: expect.any(String) }],
      }),
    });
    for (const [key, value] of Object.entries(payload)) if (key !== "userErrors") expect(value).toBeNull();
    await unchanged();
  };

  await t.step("malformed global ids", async () => {
    const ticketQuery = "query($id: ID!) { ticket(id: $id) { id } }";
    const nodeQuery = "query($id: ID!) { node(id: $id) { id } }";
    const malformed = [
      "",
      "!!!",
      "42",
      b64("Ticket"), // no key
      b64("Ticket:"),
      b64("Ticket:abc"),
      b64("Ticket:-1"),
      b64("Ticket:1.5"),
      b64("Ticket:99999999999999999999999"),
      b64(":1"),
      encodeId("User", server.tenant.agent.id), // a User id where a Ticket id is expected
      "x".repeat(10_000),
    ];
    for (const bad of malformed) {
      const result = await queryRefused(ticketQuery, { id: bad }, "id");
      expect(result.data).toEqual({ ticket: null });
    }
    for (const bad of ["!!!", b64("NoSuchType:1"), b64("Ticket"), "x".repeat(10_000)]) {
      await queryRefused(nodeQuery, { id: bad });
    }
    await queryRefused(TICKETS_PAGE, { filter: { assigneeId: "!!!" } }, "assigneeId");
    await queryRefused(TICKETS_PAGE, { filter: { assigneeId: gid } }, "assigneeId"); // a Ticket id
    await queryRefused(TICKETS_PAGE, { filter: { assigneeId: b64("User:not-a-uuid") } }, "assigneeId");

    for (const bad of ["!!!", b64("Ticket:abc"), encodeId("User", server.tenant.agent.id)]) {
      await mutationRefused(UPDATE_TICKET, { id: bad, title: "x" }, "INVALID_INPUT", ["input", "id"]);
      await mutationRefused(ADD_COMMENT, { ticketId: bad, body: "x" }, "INVALID_INPUT", ["input", "ticketId"]);
    }
    for (const bad of ["!!!", gid, b64("User:42")]) {
      await mutationRefused(CREATE_TICKET, { title: "ok", assigneeId: bad }, "INVALID_INPUT", [
        "input",
        "assigneeId",
      ]);
      await mutationRefused(UPDATE_TICKET, { id: gid, assigneeId: bad }, "INVALID_INPUT", ["input", "assigneeId"]);
    }
  });

  await t.step("malformed cursors", async () => {
    const cursors = [
      "!!!",
      "",
      b64("not json"),
      b64("{}"),
      b64("[]"),
      b64("[1]"), // a number where the id string belongs
      b64('["1","2"]'),
      encodeCursor(["abc"]),
      encodeCursor(["-5"]),
      encodeCursor(["99999999999999999999"]),
      "x".repeat(10_000),
    ];
    for (const cursor of cursors) {
      if (cursor === "") continue; // an empty cursor is "no cursor"
      await queryRefused(TICKETS_PAGE, { first: 2, after: cursor }, "after");
      await queryRefused(TICKETS_PAGE, { last: 2, before: cursor }, "before");
    }
    const comments =
      "query($id: ID!, $after: String) { ticket(id: $id) { comments(first: 2, after: $after) { edges { cursor } } } }";
    await queryRefused(comments, { id: gid, after: encodeCursor(["abc"]) }, "after");
    await queryRefused(comments, { id: gid, after: "!!!" });
  });

  await t.step("page sizes: over 100, negative, first with last, after with last", async () => {
    await queryRefused(TICKETS_PAGE, { first: 101 }, "first");
    await queryRefused(TICKETS_PAGE, { last: 101 }, "last");
    await queryRefused(TICKETS_PAGE, { first: 1_000_000 }, "first");
    await queryRefused(TICKETS_PAGE, { first: -1 }, "first");
    await queryRefused(TICKETS_PAGE, { last: -1 }, "last");
    await queryRefused(TICKETS_PAGE, { first: 2, last: 2 });
    const page = await gql(server.graphqlUrl, token, TICKETS_PAGE, { first: 2 });
    await queryRefused(TICKETS_PAGE, { last: 2, after: page.data.tickets.pageInfo.endCursor });
    await queryRefused(TICKETS_PAGE, { first: 2, before: page.data.tickets.pageInfo.endCursor });
    // A page size that is not an Int at all is a GraphQL validation error.
    const float = await gql(server.graphqlUrl, token, "{ tickets(first: 2.5) { edges { cursor } } }");
    expect(float.errors?.[0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  await t.step("unknown enum values: in the document and in variables", async () => {
    const literal = await gql(
      server.graphqlUrl,
      token,
      "{ tickets(filter: { status: [BOGUS] }) { edges { cursor } } }",
    );
    expect(literal.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('"BOGUS" does not exist in "TicketStatus"'),
        extensions: expect.objectContaining({ code: "GRAPHQL_VALIDATION_FAILED" }),
      }),
    ]);
    for (
      const [query, variables] of [
        [TICKETS_PAGE, { filter: { status: ["BOGUS"] } }],
        [TICKETS_PAGE, { filter: { priority: ["open"] } }],
        [TICKETS_PAGE, { filter: { category: ["SPAM"] } }],
        [UPDATE_TICKET, { input: { id: gid, status: "DONE" } }],
        [UPDATE_TICKET, { input: { id: gid, priority: "CRITICAL" } }],
        [CREATE_TICKET, { input: { title: "x", category: "SPAM" } }],
      ] as const
    ) {
      const result = await gql(server.graphqlUrl, token, query, variables);
      // A request error: no data at all, a message naming the variable and the enum.
      expect({ variables, data: result.data }).toEqual({ variables, data: undefined });
      expect(result.errors).toEqual([
        expect.objectContaining({ message: expect.stringMatching(/got invalid value .* does not exist in "Ticket/) }),
      ]);
    }
    await unchanged();
  });

  await t.step("over-long strings", async () => {
    await mutationRefused(CREATE_TICKET, { title: "t".repeat(201) }, "INVALID_INPUT", ["input", "title"]);
    await mutationRefused(CREATE_TICKET, { title: "ok", body: "b".repeat(10_001) }, "INVALID_INPUT", [
      "input",
      "body",
    ]);
    await mutationRefused(UPDATE_TICKET, { id: gid, title: "t".repeat(201) }, "INVALID_INPUT", ["input", "title"]);
    await mutationRefused(UPDATE_TICKET, { id: gid, body: "b".repeat(10_001) }, "INVALID_INPUT", ["input", "body"]);
    await mutationRefused(ADD_COMMENT, { ticketId: gid, body: "c".repeat(10_001) }, "INVALID_INPUT", [
      "input",
      "body",
    ]);
    await queryRefused(TICKETS_PAGE, { filter: { titleContains: "s".repeat(201) } }, "titleContains");
    // The limits themselves are allowed (checked on a throwaway ticket).
    const max = await gql(server.graphqlUrl, token, CREATE_TICKET, {
      input: { title: "t".repeat(200), body: "b".repeat(10_000) },
    });
    expect(max.data.createTicket.userErrors).toEqual([]);
    await server.db.deleteFrom("tickets").where("title", "=", "t".repeat(200)).execute();
  });

  await t.step("empty and NUL-carrying strings", async () => {
    for (const title of ["", "   ", "\n\t"]) {
      await mutationRefused(CREATE_TICKET, { title }, "INVALID_INPUT", ["input", "title"]);
      await mutationRefused(UPDATE_TICKET, { id: gid, title }, "INVALID_INPUT", ["input", "title"]);
    }
    await mutationRefused(UPDATE_TICKET, { id: gid, title: null }, "INVALID_INPUT", ["input", "title"]);
    await mutationRefused(ADD_COMMENT, { ticketId: gid, body: "" }, "INVALID_INPUT", ["input", "body"]);
    await mutationRefused(ADD_COMMENT, { ticketId: gid, body: "  " }, "INVALID_INPUT", ["input", "body"]);
    await mutationRefused(CREATE_TICKET, { title: "a\u0000b" }, "INVALID_INPUT", ["input", "title"]);
    await mutationRefused(UPDATE_TICKET, { id: gid, body: "a\u0000b" }, "INVALID_INPUT", ["input", "body"]);
    await mutationRefused(ADD_COMMENT, { ticketId: gid, body: "a\u0000b" }, "INVALID_INPUT", ["input", "body"]);
    await queryRefused(TICKETS_PAGE, { filter: { titleContains: "a\u0000b" } }, "titleContains");
    // A missing required field is a GraphQL error before any resolver runs.
    const missing = await gql(server.graphqlUrl, token, CREATE_TICKET, { input: {} });
    expect(missing.status).toBe(400);
    expect(missing.errors?.[0].message).toContain("title");
    await unchanged();
  });

  await t.step("dates that are not ISO 8601 date-times", async () => {
    for (const date of ["yesterday", "2025-01-01", "2025-13-45T00:00:00Z", "1700000000", ""]) {
      const result = await gql(server.graphqlUrl, token, TICKETS_PAGE, { filter: { createdAfter: date } });
      expect({ date, data: result.data ?? null }).toEqual({ date, data: null });
      expect(result.errors?.[0].message).toContain("ISO 8601");
    }
    const literal = await gql(
      server.graphqlUrl,
      token,
      '{ tickets(filter: { createdBefore: "soon" }) { edges { cursor } } }',
    );
    expect(literal.errors?.[0].message).toContain("ISO 8601");
  });

  await t.step("a status change the transition table forbids: INVALID_TRANSITION", async () => {
    await mutationRefused(UPDATE_TICKET, { id: gid, status: "CLOSED" }, "INVALID_TRANSITION", null);
    // Nothing of the same input is applied either, not even the valid parts.
    await mutationRefused(
      UPDATE_TICKET,
      { id: gid, status: "CLOSED", title: "renamed", priority: "URGENT" },
      "INVALID_TRANSITION",
      null,
    );
    // CLOSED -> PENDING and CLOSED -> RESOLVED are refused too.
    const closedRow = await server.db.selectFrom("tickets").select(["id", "version"]).where(
      "tenant_id",
      "=",
      server.tenant.id,
    )
      .where("status", "=", "CLOSED").executeTakeFirstOrThrow();
    for (const status of ["PENDING", "RESOLVED"]) {
      const result = await gql(server.graphqlUrl, token, UPDATE_TICKET, {
        input: { id: ticketId(closedRow.id), status },
      });
      expect(result.data.updateTicket.userErrors.map((e: { code: string }) => e.code)).toEqual([
        "INVALID_TRANSITION",
      ]);
    }
    expect((await ticketRow(server.db, closedRow.id))!.version).toBe(closedRow.version);
  });

  await t.step("a stale expectedVersion: VERSION_CONFLICT", async () => {
    await mutationRefused(UPDATE_TICKET, { id: gid, expectedVersion: 2, title: "late" }, "VERSION_CONFLICT", null);
    await mutationRefused(UPDATE_TICKET, { id: gid, expectedVersion: -1, title: "late" }, "VERSION_CONFLICT", null);
  });

  await t.step("the ticket is still untouched, and a good update still works", async () => {
    await unchanged();
    const ok = await gql(server.graphqlUrl, token, UPDATE_TICKET, {
      input: { id: gid, status: "PENDING", expectedVersion: 1 },
    });
    expect(ok.data.updateTicket).toEqual({
      ticket: { id: gid, title: before.row!.title, status: "PENDING", version: 2 },
      userErrors: [],
    });
  });
});
