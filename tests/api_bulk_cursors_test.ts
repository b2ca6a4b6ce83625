/** Forged cursors of the bulk lists are typed input errors, never database errors. */
import { expect } from "expect";
import { encodeCursor } from "../src/graphql/ids.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

Deno.test("forged bulk cursors are BAD_USER_INPUT", async () => {
  await using server = await startTestServer({ tickets: 3 });
  const token = server.tenant.agent.token;
  const started = await gql(
    server.graphqlUrl,
    token,
    `mutation { startBulkOperation(input: { targets: { filter: {} }, action: { setPriority: { priority: HIGH } } })
        { bulkOperation { id } userErrors { code } } }`,
  );
  const id = started.data!.startBulkOperation.bulkOperation.id;
  const cases: [string, string][] = [
    [`{ bulkOperations(after: "${encodeCursor(["yesterday", "x"])}") { edges { cursor } } }`, "after"],
    [
      `{ bulkOperations(last: 1, before: "${encodeCursor(["2026-01-01T00:00:00.000000Z", "not-a-uuid"])}") {
          edges { cursor } } }`,
      "before",
    ],
    // Milliseconds: the cursor's format before it carried created_at to the microsecond.
    [
      `{ bulkOperations(after: "${encodeCursor(["2026-01-01T00:00:00.000Z", ZERO_UUID])}") { edges { cursor } } }`,
      "after",
    ],
    [`{ bulkOperation(id: "${id}") { items(after: "${encodeCursor([1.5])}") { edges { cursor } } } }`, "after"],
    [`{ bulkOperation(id: "${id}") { items(after: "${encodeCursor([3e9])}") { edges { cursor } } } }`, "after"],
    [`{ bulkOperation(id: "${id}") { events(after: "${encodeCursor(["abc"])}") { edges { cursor } } } }`, "after"],
  ];
  for (const [query, field] of cases) {
    const result = await gql(server.graphqlUrl, token, query);
    expect(result.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
  }
});
