/** Query depth and cost limits: refused at validation, before any resolver runs. */
import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("query limits: depth and cost", async (t) => {
  const server = await startTestServer({ tickets: 5 });
  const token = server.tenant.agent.token;
  try {
    await t.step("a history page with 100 items each is within the cost limit", async () => {
      const result = await gql(
        server.graphqlUrl,
        token,
        `{ bulkOperations(first: 100) { edges { node { id items(first: 100) { edges { node { position } } } } } } }`,
      );
      expect(result.errors).toBeUndefined();
    });
    await t.step("three nested pages of 100 are refused as too costly", async () => {
      const result = await gql(
        server.graphqlUrl,
        token,
        `{ bulkOperations(first: 100) { edges { node { items(first: 100) { edges { node {
            target { comments(first: 100) { edges { node { body } } } } } } } } } } }`,
      );
      expect(result.errors?.[0].extensions?.code).toBe("QUERY_TOO_COSTLY");
      expect(result.data ?? null).toBeNull();
    });
    await t.step("a page size from a variable counts as the maximum", async () => {
      const result = await gql(
        server.graphqlUrl,
        token,
        `query($n: Int) { bulkOperations(first: $n) { edges { node { items(first: $n) { edges { node {
            target { comments(first: $n) { edges { node { body } } } } } } } } } } }`,
        { n: 5 },
      );
      expect(result.errors?.[0].extensions?.code).toBe("QUERY_TOO_COSTLY");
    });
    await t.step("fragments are followed", async () => {
      const result = await gql(
        server.graphqlUrl,
        token,
        `fragment T on Ticket { comments(first: 100) { edges { node { body } } } }
         { tickets(first: 100) { edges { node { ...T } } } bulkOperations(first: 100) { edges { node {
           items(first: 100) { edges { node { target { ...T } } } } } } } }`,
      );
      expect(result.errors?.[0].extensions?.code).toBe("QUERY_TOO_COSTLY");
    });
    await t.step("too deep is refused", async () => {
      const result = await gql(
        server.graphqlUrl,
        token,
        // 3 levels to reach an operation, then 10 parents: 13 > 12.
        `{ bulkOperations(first: 1) { edges { node { ${"parent { ".repeat(10)}id${" }".repeat(10)} } } } }`,
      );
      expect(result.errors?.[0].extensions?.code).toBe("QUERY_TOO_DEEP");
    });
  } finally {
    await server.stop();
  }
});
