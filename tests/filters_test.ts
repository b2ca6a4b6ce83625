/**
 * Every TicketFilter field against a fixture whose expected answers are computed here in
 * TypeScript: status, priority, category, assigneeId, unassigned, titleContains (with LIKE
 * wildcards taken literally), createdAfter (inclusive) / createdBefore (exclusive),
 * includeDeleted, and combinations; ticketCount agrees with every one of them.
 */
import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { TICKETS_PAGE, userId } from "./helpers/tickets.ts";
import type { TicketCategory, TicketPriority, TicketStatus } from "../src/tickets/model.ts";

const TICKET_COUNT = `query($filter: TicketFilter) { ticketCount(filter: $filter) }`;

interface Fixture {
  title: string;
  status: TicketStatus;
  priority: TicketPriority;
  category: TicketCategory;
  assignee: "agent" | "admin" | null;
  created: string;
  deleted?: boolean;
}

const FIXTURE: Fixture[] = [
  {
    title: "Printer offline",
    status: "OPEN",
    priority: "HIGH",
    category: "TECHNICAL",
    assignee: "agent",
    created: "2025-01-01T00:00:00Z",
  },
  {
    title: "100% refund please",
    status: "PENDING",
    priority: "URGENT",
    category: "BILLING",
    assignee: null,
    created: "2025-01-02T00:00:00Z",
  },
  {
    title: "100 percent sure",
    status: "RESOLVED",
    priority: "LOW",
    category: "BILLING",
    assignee: "admin",
    created: "2025-01-03T00:00:00Z",
  },
  {
    title: "snake_case in export",
    status: "CLOSED",
    priority: "NORMAL",
    category: "TECHNICAL",
    assignee: "agent",
    created: "2025-01-04T00:00:00Z",
  },
  {
    title: "snakeXcase lookalike",
    status: "OPEN",
    priority: "NORMAL",
    category: "GENERAL",
    assignee: null,
    created: "2025-01-05T00:00:00Z",
  },
  {
    title: "Back\\slash in path",
    status: "OPEN",
    priority: "LOW",
    category: "ACCOUNT",
    assignee: "admin",
    created: "2025-01-06T00:00:00Z",
  },
  {
    title: "PRINTER jams",
    status: "PENDING",
    priority: "HIGH",
    category: "TECHNICAL",
    assignee: "agent",
    created: "2025-01-07T00:00:00Z",
  },
  {
    title: "Dark mode, please",
    status: "OPEN",
    priority: "LOW",
    category: "FEATURE_REQUEST",
    assignee: null,
    created: "2025-01-08T00:00:00Z",
  },
  {
    title: "Deleted printer ticket",
    status: "OPEN",
    priority: "HIGH",
    category: "TECHNICAL",
    assignee: "agent",
    created: "2025-01-09T00:00:00Z",
    deleted: true,
  },
  {
    title: "Deleted 100% ticket",
    status: "CLOSED",
    priority: "URGENT",
    category: "BILLING",
    assignee: null,
    created: "2025-01-10T00:00:00Z",
    deleted: true,
  },
  {
    title: "Invoice is wrong",
    status: "RESOLVED",
    priority: "NORMAL",
    category: "BILLING",
    assignee: "agent",
    created: "2025-01-11T00:00:00Z",
  },
];

Deno.test("every ticket filter returns exactly the matching tickets", async (t) => {
  await using server = await startTestServer();
  const users = { agent: server.tenant.agent.id, admin: server.tenant.admin.id };
  // Insert in fixture order: ids ascend with the fixture, so the API's order is the reverse.
  for (const f of FIXTURE) {
    await server.db.insertInto("tickets").values({
      tenant_id: server.tenant.id,
      title: f.title,
      status: f.status,
      priority: f.priority,
      category: f.category,
      assignee_id: f.assignee ? users[f.assignee] : null,
      created_at: f.created,
      deleted_at: f.deleted ? "2025-02-01T00:00:00Z" : null,
    }).execute();
  }
  // The other tenant has tickets that match every filter: none may ever show.
  for (const f of FIXTURE) {
    await server.db.insertInto("tickets").values({
      tenant_id: server.otherTenant.id,
      title: `${f.title} (other tenant)`,
      status: f.status,
      priority: f.priority,
      category: f.category,
      created_at: f.created,
    }).execute();
  }

  const titles = async (filter: Record<string, unknown>) => {
    const result = await gql(server.graphqlUrl, server.tenant.viewer.token, TICKETS_PAGE, { first: 100, filter });
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data.tickets.edges.map((e: { node: { title: string } }) => e.node.title);
  };
  const expected = (predicate: (f: Fixture) => boolean, includeDeleted = false) =>
    FIXTURE.filter((f) => (includeDeleted || !f.deleted) && predicate(f)).map((f) => f.title).reverse();
  const count = async (filter: Record<string, unknown>) => {
    const result = await gql(server.graphqlUrl, server.tenant.viewer.token, TICKET_COUNT, { filter });
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data.ticketCount as number;
  };
  /** The tickets page and ticketCount (the console's "select all N matching") both match the expectation. */
  const check = async (filter: Record<string, unknown>, predicate: (f: Fixture) => boolean) => {
    const got = await titles(filter);
    const want = expected(predicate, filter.includeDeleted === true);
    expect({ filter, got, count: await count(filter) }).toEqual({ filter, got: want, count: want.length });
    return got;
  };

  await t.step("no filter: every live ticket", async () => {
    expect(await check({}, () => true)).toHaveLength(9);
  });

  await t.step("status", async () => {
    for (const status of [["OPEN"], ["PENDING"], ["RESOLVED"], ["CLOSED"], ["OPEN", "PENDING"], []]) {
      await check({ status }, (f) => status.length === 0 || status.includes(f.status));
    }
  });

  await t.step("priority", async () => {
    for (const priority of [["URGENT"], ["LOW", "HIGH"], ["NORMAL"]]) {
      await check({ priority }, (f) => priority.includes(f.priority));
    }
  });

  await t.step("category", async () => {
    for (const category of [["BILLING"], ["TECHNICAL", "FEATURE_REQUEST"], ["ACCOUNT"], ["GENERAL"]]) {
      await check({ category }, (f) => category.includes(f.category));
    }
  });

  await t.step("assigneeId and unassigned", async () => {
    await check({ assigneeId: userId(users.agent) }, (f) => f.assignee === "agent");
    await check({ assigneeId: userId(users.admin) }, (f) => f.assignee === "admin");
    await check({ assigneeId: userId(server.tenant.viewer.id) }, () => false);
    await check({ unassigned: true }, (f) => f.assignee === null);
    await check({ unassigned: false }, () => true);
  });

  await t.step("titleContains: case-insensitive substring; %, _ and \\ are literal", async () => {
    await check({ titleContains: "printer" }, (f) => f.title.toLowerCase().includes("printer"));
    expect(await titles({ titleContains: "PrInTeR" })).toEqual(["PRINTER jams", "Printer offline"]);
    expect(await titles({ titleContains: "%" })).toEqual(["100% refund please"]);
    expect(await titles({ titleContains: "100%" })).toEqual(["100% refund please"]);
    expect(await titles({ titleContains: "_" })).toEqual(["snake_case in export"]);
    expect(await titles({ titleContains: "snake_case" })).toEqual(["snake_case in export"]);
    expect(await titles({ titleContains: "\\" })).toEqual(["Back\\slash in path"]);
    expect(await titles({ titleContains: "%_%" })).toEqual([]);
    expect(await titles({ titleContains: "no such words" })).toEqual([]);
    await check({ titleContains: "" }, () => true); // empty: no condition
  });

  await t.step("createdAfter is inclusive, createdBefore exclusive", async () => {
    const after = "2025-01-04T00:00:00Z";
    const before = "2025-01-07T00:00:00Z";
    await check({ createdAfter: after }, (f) => f.created >= after);
    await check({ createdBefore: before }, (f) => f.created < before);
    const between = await check(
      { createdAfter: after, createdBefore: before },
      (f) => f.created >= after && f.created < before,
    );
    expect(between).toEqual(["Back\\slash in path", "snakeXcase lookalike", "snake_case in export"]);
    // Any offset is understood.
    await check({ createdAfter: "2025-01-04T01:00:00+01:00" }, (f) => f.created >= after);
  });

  await t.step("includeDeleted", async () => {
    expect(await check({ includeDeleted: true }, () => true)).toHaveLength(11);
    await check({ includeDeleted: false }, () => true);
    await check({ includeDeleted: true, titleContains: "100%" }, (f) => f.title.includes("100%"));
    await check({ includeDeleted: true, status: ["CLOSED"] }, (f) => f.status === "CLOSED");
  });

  await t.step("combinations: every condition must hold", async () => {
    await check(
      { status: ["OPEN", "PENDING"], priority: ["HIGH"], assigneeId: userId(users.agent) },
      (f) => ["OPEN", "PENDING"].includes(f.status) && f.priority === "HIGH" && f.assignee === "agent",
    );
    await check(
      { category: ["BILLING"], unassigned: true, includeDeleted: true },
      (f) => f.category === "BILLING" && f.assignee === null,
    );
    await check(
      { titleContains: "e", createdBefore: "2025-01-08T00:00:00Z", priority: ["LOW", "NORMAL"] },
      (f) =>
        f.title.toLowerCase().includes("e") && f.created < "2025-01-08T00:00:00Z" &&
        ["LOW", "NORMAL"].includes(f.priority),
    );
  });
});
