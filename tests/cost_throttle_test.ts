/**
 * The per-token calculated-cost bucket (src/graphql/cost-throttle.ts): every result reports its cost and the
 * bucket; a flood from one token is answered 429 THROTTLED with Retry-After, executing nothing, while another
 * token is unaffected.
 */
import { expect } from "expect";
import { buildSchema, parse } from "graphql";
import { envelop } from "graphql-yoga";
import { CostBuckets } from "../src/graphql/cost-bucket.ts";
import { useCostThrottle } from "../src/graphql/cost-throttle.ts";
import { firstAnswer, wsClient } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { countRows } from "./helpers/tickets.ts";

/** POSTs a query as `token` (or anonymously); the status, Retry-After and body. */
const poster = (server: TestServer) => async (token: string | null, query: string) => {
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
};

const PAGE = "{ tickets(first: 100) { edges { node { id } } } }"; // requested cost 100

Deno.test("cost throttle: extensions.cost on every result, 429 + Retry-After for a flood, other tokens unaffected", async () => {
  await using server = await startTestServer({
    tickets: 100,
    env: { GRAPHQL_MAX_COST: "500", GRAPHQL_COST_BUCKET_SIZE: "1000", GRAPHQL_COST_RESTORE_RATE: "1" },
  });
  const post = poster(server);
  const { agent, admin } = server.tenant;
  const first = await post(agent.token, PAGE);
  expect(first.status).toBe(200);
  expect(first.body.extensions.cost).toEqual({
    requestedQueryCost: 100,
    actualQueryCost: 100,
    throttleStatus: { maximumAvailable: 1000, currentlyAvailable: 900, restoreRate: 1 },
  });
  // Actual below requested: the difference is given back.
  const few = await post(
    agent.token,
    '{ tickets(first: 100, filter: { titleContains: "no such title" }) { edges { node { id } } } }',
  );
  expect(few.body.extensions.cost).toMatchObject({ requestedQueryCost: 100, actualQueryCost: 1 });
  expect(few.body.extensions.cost.throttleStatus.currentlyAvailable).toBeGreaterThanOrEqual(899);

  let throttled: Awaited<ReturnType<typeof post>> | null = null;
  for (let i = 0; i < 20 && !throttled; i++) {
    const result = await post(agent.token, PAGE);
    if (result.status !== 200) throttled = result;
  }
  if (!throttled) throw new Error("20 requests of cost 100 against a bucket of 1000 were never throttled");
  expect(throttled.status).toBe(429);
  // At 1 point per second, the seconds until the 100 points are back: 100 - what is available.
  const available = throttled.body.extensions.cost.throttleStatus.currentlyAvailable;
  expect(available).toBeLessThan(100);
  expect(Number(throttled.retryAfter)).toBe(100 - available);
  expect(throttled.body.errors[0].extensions.retryAfterSeconds).toBe(100 - available);
  expect(throttled.body.data).toBeUndefined();
  expect(throttled.body.errors).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: "THROTTLED" }) }),
  ]);
  expect(throttled.body.extensions.cost).toMatchObject({ requestedQueryCost: 100, actualQueryCost: 0 });

  // Nothing executes while throttled: a mutation (requested cost 113, over what is left) writes nothing.
  const tickets = await countRows(server.db, "tickets");
  const mutation = await post(
    agent.token,
    `mutation { createTicket(input: { title: "New" }) {
        ticket { comments(first: 100) { edges { node { id } } } } userErrors { code } } }`,
  );
  expect(mutation.status).toBe(429);
  expect(await countRows(server.db, "tickets")).toBe(tickets);

  // The same bucket over graphql-ws (it shares Yoga's envelop).
  {
    await using client = wsClient(server.wsUrl, agent.token); // closed before the SSE step
    expect(JSON.stringify(await firstAnswer(client, PAGE))).toContain("THROTTLED");
  }

  // A subscription is charged when it starts: over SSE, one that costs more than is left does not start.
  const sse = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      authorization: `Bearer ${agent.token}`,
    },
    body: JSON.stringify({
      query: "subscription { bulkOperationsChanged { id items(first: 100) { edges { node { position } } } } }",
    }),
  });
  const stream = await sse.text();
  expect(stream).toContain("THROTTLED");
  expect(stream).not.toContain('"data"');

  // Another token has its own bucket.
  const other = await post(admin.token, PAGE);
  expect(other.status).toBe(200);
  expect(other.body.extensions.cost.throttleStatus.currentlyAvailable).toBe(900);
});

Deno.test("refused documents are charged to the caller: a flood of them is throttled before lexing", async () => {
  await using server = await startTestServer({
    tickets: 1,
    env: { GRAPHQL_MAX_COST: "500", GRAPHQL_COST_BUCKET_SIZE: "1000", GRAPHQL_COST_RESTORE_RATE: "1" },
  });
  const post = poster(server);
  const { agent, admin } = server.tenant;
  const bomb = `{ viewer { user { ${"id ".repeat(40_000)} } } }`; // 120 kB: TOO_MANY_TOKENS, 121 points each
  const codes: string[] = [];
  for (let i = 0; i < 10; i++) codes.push((await post(agent.token, bomb)).body.errors[0].extensions.code);
  // 1,000 points: 8 refusals of 121 leave 32, the 9th takes the bucket into debt, the 10th is not lexed.
  expect(codes).toEqual([...Array(9).fill("TOO_MANY_TOKENS"), "THROTTLED"]);
  const throttled = await post(agent.token, "{ viewer { user { id } } }");
  expect(throttled.status).toBe(429);
  expect(Number(throttled.retryAfter)).toBeGreaterThan(80); // about 1 - (32 - 121) points at 1 per second

  // Refusals at validation count too (31 aliases), and an unknown token is anonymous, not a fresh bucket.
  const aliases = `{ viewer { ${Array.from({ length: 31 }, (_, i) => `a${i}: tenant { name }`).join(" ")} } }`;
  for (let i = 0; i < 9; i++) await post(`bo_${crypto.randomUUID()}`, bomb);
  expect((await post(null, aliases)).body.errors[0].extensions.code).toBe("THROTTLED");

  // A syntax error is a refusal too, also when Yoga answers it from its cache of parse errors (2nd time on).
  const broken = `#${"x".repeat(120_000)}\n{ viewer {`;
  const syntax: string[] = [];
  for (let i = 0; i < 10; i++) {
    const { body } = await post(server.tenant.viewer.token, broken);
    syntax.push(body.errors[0].extensions.code);
  }
  expect(syntax).toEqual([...Array(9).fill("GRAPHQL_PARSE_FAILED"), "THROTTLED"]);

  // Another token is unaffected; its own refusals are charged to it.
  const other = await post(admin.token, "{ viewer { user { id } } }");
  expect(other.status).toBe(200);
  const before = other.body.extensions.cost.throttleStatus.currentlyAvailable;
  expect(before).toBeGreaterThan(990);
  expect((await post(admin.token, aliases)).body.errors[0].extensions.code).toBe("TOO_MANY_ALIASES");
  expect((await post(admin.token, bomb)).body.errors[0].extensions.code).toBe("TOO_MANY_TOKENS");
  const after = await post(admin.token, "{ viewer { user { id } } }");
  expect(after.body.extensions.cost.throttleStatus.currentlyAvailable).toBeLessThan(before - 100);
});

Deno.test("cost buckets: the sweep of full buckets runs at most once a second", () => {
  let now = 0;
  const buckets = new CostBuckets(10, 10, () => now);
  for (let i = 0; i <= 10_000; i++) buckets.take(`t${i}`, 1);
  now += 1000; // all full again
  buckets.take("sweeper", 1);
  expect(buckets.held).toBe(1); // swept: only the bucket just taken from
  for (let i = 0; i <= 10_000; i++) buckets.take(`u${i}`, 1);
  now += 999; // full again, but the last sweep was under a second ago
  buckets.take("again", 1);
  expect(buckets.held).toBe(10_003);
  now += 1;
  buckets.take("later", 1);
  expect(buckets.held).toBe(2); // "again" is not full yet
});

Deno.test("cost throttle: an execution that throws is settled like one that returned", async () => {
  const buckets = new CostBuckets(1000, 1, () => 0);
  // No execution engine registered: envelop's execute throws, as an executor bug or a lost connection would.
  const { execute } = envelop({ plugins: [useCostThrottle(buckets, () => "k")] })();
  const schema = buildSchema("type Query { a: A } type A { b: A }");
  const cost = { actual: 1 }; // what the resolvers tallied before the throw
  await expect(
    Promise.resolve().then(() =>
      execute({ schema, document: parse("{ a { b { b { __typename } } } }"), contextValue: { rateKey: "k", cost } })
    ),
  ).rejects.toThrow();
  // Requested 3 (three object fields), actual 1: 2 given back.
  expect(buckets.check("k", 0).status.currentlyAvailable).toBe(999);
});
