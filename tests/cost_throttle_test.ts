/**
 * The per-token calculated-cost bucket (src/graphql/cost-throttle.ts): every result reports its cost and the
 * bucket; a flood from one token is answered 429 THROTTLED with Retry-After, executing nothing, while another
 * token is unaffected.
 */
import { expect } from "expect";
import { firstAnswer, wsClient } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { countRows } from "./helpers/tickets.ts";

const PAGE = "{ tickets(first: 100) { edges { node { id } } } }"; // requested cost 100

Deno.test("cost throttle: extensions.cost on every result, 429 + Retry-After for a flood, other tokens unaffected", async () => {
  const server = await startTestServer({
    tickets: 100,
    env: { GRAPHQL_MAX_COST: "500", GRAPHQL_COST_BUCKET_SIZE: "1000", GRAPHQL_COST_RESTORE_RATE: "1" },
  });
  const post = async (token: string, query: string) => {
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
  };
  try {
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
    expect(Number(throttled.retryAfter)).toBeGreaterThanOrEqual(1);
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
    const client = wsClient(server.wsUrl, agent.token);
    try {
      expect(JSON.stringify(await firstAnswer(client, PAGE))).toContain("THROTTLED");
    } finally {
      await client.dispose();
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
  } finally {
    await server.stop();
  }
});
