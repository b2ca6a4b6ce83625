/**
 * The two reads the console added to the API: ticketCount (the "select all N matching" figure, capped at
 * BULK_MAX_TARGETS + 1 so a count over a huge tenant stays bounded) and users (the assignee pickers: the caller's
 * tenant only, by name). ticketCount's agreement with every filter is in tests/filters_test.ts.
 */
import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("ticketCount counts up to BULK_MAX_TARGETS + 1; users lists the caller's tenant only, by name", async () => {
  await using server = await startTestServer({ tickets: 12, env: { BULK_MAX_TARGETS: "5" } });
  const count = await gql(
    server.graphqlUrl,
    server.tenant.viewer.token,
    `{ all: ticketCount capped: ticketCount(
      filter: { status: [OPEN] }) }`,
  );
  expect(count.errors).toBeUndefined();
  expect(count.data).toEqual({ all: 6, capped: 5 }); // 12 tickets (capped to 6); 5 of them are OPEN
  // Another tenant's tickets are not counted.
  const other = await gql(server.graphqlUrl, server.otherTenant.viewer.token, `{ ticketCount }`);
  expect(other.data).toEqual({ ticketCount: 0 });
  const bad = await gql(
    server.graphqlUrl,
    server.tenant.viewer.token,
    `{ ticketCount(filter: { titleContains: "${"x".repeat(201)}" }) }`,
  );
  expect(bad.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");

  const users = await gql(server.graphqlUrl, server.tenant.viewer.token, `{ users { email name role } }`);
  expect(users.errors).toBeUndefined();
  expect(users.data.users).toEqual([
    { email: server.tenant.admin.email, name: "ADMIN Tenant A", role: "ADMIN" },
    { email: server.tenant.agent.email, name: "AGENT Tenant A", role: "AGENT" },
    { email: server.tenant.viewer.email, name: "VIEWER Tenant A", role: "VIEWER" },
  ]);
  const anonymous = await gql(server.graphqlUrl, null, `{ users { email } }`);
  expect(anonymous.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
});
