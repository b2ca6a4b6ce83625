/** Query depth and cost limits: refused at validation, before any resolver runs. */
import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("query limits: depth and cost", async (t) => {
  await using server = await startTestServer({ tickets: 5 });
  const token = server.tenant.agent.token;
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
});

Deno.test("request bodies over MAX_BODY_BYTES are refused with 413, declared or chunked", async () => {
  await using server = await startTestServer({ env: { MAX_BODY_BYTES: "2048" } });
  const query = JSON.stringify({ query: `{ viewer { user { id } } } # ${"x".repeat(4000)}` });
  const headers = { "content-type": "application/json", authorization: `Bearer ${server.tenant.agent.token}` };
  const declared = await fetch(server.graphqlUrl, { method: "POST", headers, body: query });
  expect(declared.status).toBe(413);
  expect((await declared.json()).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  const chunked = await fetch(server.graphqlUrl, {
    method: "POST",
    headers,
    body: new Blob([query]).stream(),
  });
  expect(chunked.status).toBe(413);
  await chunked.body?.cancel();
  const small = await gql(server.graphqlUrl, server.tenant.agent.token, "{ viewer { user { role } } }");
  expect(small.data).toEqual({ viewer: { user: { role: "AGENT" } } });
});

Deno.test("GRAPHQL_MAX_COST: a query costing exactly the limit runs, one object more is refused", async () => {
  // Not the default (25,000): the limit must come from the configuration.
  await using server = await startTestServer({ tickets: 3, env: { GRAPHQL_MAX_COST: "1010" } });
  // tickets(first: 10) costs 10, its comments(first: 100) 10 x 100 = 1,000: 1,010 in all.
  const atLimit = `tickets(first: 10) { edges { node { comments(first: 100) { edges { node { body } } } } } }`;
  const under = await gql(server.graphqlUrl, server.tenant.agent.token, `{ ${atLimit} }`);
  expect(under.errors).toBeUndefined();
  expect(under.data.tickets.edges.length).toBe(3);
  // The same plus a page of 1: 1,011.
  const over = await gql(
    server.graphqlUrl,
    server.tenant.agent.token,
    `{ ${atLimit} one: tickets(first: 1) {
      edges { node { id } } } }`,
  );
  expect(over.data ?? null).toBeNull();
  expect(over.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([[
    "QUERY_TOO_COSTLY",
    "Query may return 1011 objects; the limit is 1010. Ask for smaller pages or fewer nested connections and lists.",
  ]]);
});
