/**
 * Tenant isolation of the bulk API: another tenant's operation is invisible everywhere
 * (query, node, history, subscription, downloads), downloads need a token, and the
 * bulkOperationsChanged feed carries the tenant's own operations and no one else's.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { PROGRESS_CHANNEL, progressPayload } from "../src/bulk/events.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { gql, wsClient } from "./helpers/graphql.ts";
import {
  holdTicketLocks,
  OPERATION_FIELDS,
  type OperationView,
  PROGRESS,
  record,
  sse,
  startOk,
  ticketGid,
  within,
} from "./helpers/api.ts";
import { startTestServer } from "./helpers/server.ts";

const TERMINAL = ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"];

Deno.test("another tenant's operation: null in bulkOperation and node, absent from history, subscription error, download 404", async () => {
  await using server = await startTestServer({ tickets: 20, env: { WORKERS: "1" } });
  await using foreignClient = wsClient(server.wsUrl, server.otherTenant.admin.token);
  await using ownClient = wsClient(server.wsUrl, server.tenant.viewer.token);
  const ids = await ticketIds(server.db, server.tenant.id);
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setCategory: { category: "GENERAL" } },
  });
  await waitFor(server.db, op.dbId, finished);
  const query = `query($id: ID!) {
      bulkOperation(id: $id) { id }
      node(id: $id) { id ... on BulkOperation { status } }
      bulkOperations(first: 10) { edges { node { id } } }
    }`;

  const own = await gql(server.graphqlUrl, server.tenant.viewer.token, query, { id: op.id });
  expect(own.errors).toBeUndefined();
  expect(own.data.bulkOperation).toEqual({ id: op.id });
  expect(own.data.node).toEqual({ id: op.id, status: expect.any(String) });
  expect(own.data.bulkOperations.edges).toEqual([{ node: { id: op.id } }]);

  const foreign = await gql(server.graphqlUrl, server.otherTenant.admin.token, query, { id: op.id });
  expect(foreign.errors).toBeUndefined();
  expect(foreign.data).toEqual({ bulkOperation: null, node: null, bulkOperations: { edges: [] } });

  // graphql-ws: an error, no data, and the subscription ends.
  const watched = record<{ bulkOperationProgress: OperationView }>(foreignClient, PROGRESS, { id: op.id });
  await within(watched.done, 10_000, "the foreign subscription ends");
  expect(watched.events).toEqual([]);
  expect(watched.errors.length).toBe(1);
  expect(watched.errors[0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
  console.log(`foreign subscription: ${JSON.stringify(watched.errors)}`);
  // The same subscription by the owner's tenant works (one event: it is finished).
  const allowed = record<{ bulkOperationProgress: OperationView }>(ownClient, PROGRESS, { id: op.id });
  await within(allowed.done, 10_000, "the own subscription ends");
  expect(allowed.errors).toEqual([]);
  expect(allowed.events.length).toBe(1);

  // SSE: the same answer.
  const events = [];
  for await (const event of sse(server.graphqlUrl, server.otherTenant.admin.token, PROGRESS, { id: op.id })) {
    events.push(event);
    if (event.event === "complete") break;
  }
  expect(events.at(-1)?.event).toBe("complete");
  const payloads = events.filter((e) => e.event === "next").map((e) => JSON.parse(e.data));
  expect(payloads.length).toBe(1);
  expect(payloads[0].data ?? null).toBeNull();
  expect(payloads[0].errors[0].extensions.code).toBe("NOT_FOUND");

  // Downloads: 404 for another tenant (like a missing id), 401 without or with a bad token.
  for (const format of ["jsonl", "csv"]) {
    const url = `${server.url}/bulk-operations/${op.id}/items.${format}`;
    const asForeign = await fetch(url, { headers: { authorization: `Bearer ${server.otherTenant.admin.token}` } });
    expect(asForeign.status).toBe(404);
    expect(await asForeign.json()).toEqual({ error: expect.any(String) });
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
    const badToken = await fetch(url, { headers: { authorization: "Bearer not-a-real-token" } });
    expect(badToken.status).toBe(401);
    await badToken.body?.cancel();
    const asOwner = await fetch(url, { headers: { authorization: `Bearer ${server.tenant.viewer.token}` } });
    expect(asOwner.status).toBe(200);
    await asOwner.body?.cancel();
  }
  const missing = await fetch(`${server.url}/bulk-operations/${crypto.randomUUID()}/items.jsonl`, {
    headers: { authorization: `Bearer ${server.tenant.viewer.token}` },
  });
  expect(missing.status).toBe(404);
  await missing.body?.cancel();
});

Deno.test("subscriptions need a token: graphql-ws closes with 4401, SSE answers UNAUTHENTICATED", async () => {
  await using server = await startTestServer({ tickets: 1 });
  await using anonymous = wsClient(server.wsUrl, null);
  const rec = record(anonymous, "subscription { bulkOperationsChanged { id } }");
  await within(rec.done, 10_000, "the anonymous subscription ends");
  expect(rec.events).toEqual([]);
  expect(rec.errors.length).toBe(1);
  expect((rec.errors[0] as CloseEvent).code).toBe(4401);

  const events = [];
  for await (const event of sse(server.graphqlUrl, null, "subscription { bulkOperationsChanged { id } }", {})) {
    events.push(event);
    if (event.event === "complete") break;
  }
  const next = events.filter((e) => e.event === "next").map((e) => JSON.parse(e.data));
  expect(next.length).toBe(1);
  expect(next[0].data ?? null).toBeNull();
  expect(next[0].errors[0].extensions.code).toBe("UNAUTHENTICATED");
});

type Changed = { bulkOperationsChanged: OperationView };

Deno.test("bulkOperationsChanged delivers the tenant's operation changes and not another tenant's", async () => {
  await using server = await startTestServer({ tickets: 300, env: { WORKERS: "1", BULK_CHUNK_SIZE: "50" } });
  await insertTickets(server.db, server.otherTenant.id, 300);
  await using clientA = wsClient(server.wsUrl, server.tenant.viewer.token);
  await using clientB = wsClient(server.wsUrl, server.otherTenant.admin.token);
  const dbTicketIds = await ticketIds(server.db, server.tenant.id);
  const idsA = dbTicketIds.map(ticketGid);
  const idsB = (await ticketIds(server.db, server.otherTenant.id)).map(ticketGid);
  const isEnd = (id: string) => (e: Changed) =>
    e.bulkOperationsChanged.id === id && TERMINAL.includes(e.bulkOperationsChanged.status);

  // A finished operation per tenant, used to learn when each feed is live: the feed has no
  // initial event, so re-send its operation's NOTIFY until the feed shows it.
  const probeA = await startOk(server, server.tenant.agent, {
    targets: { ids: idsA.slice(0, 1) },
    action: { setCategory: { category: "GENERAL" } },
  });
  const probeB = await startOk(server, server.otherTenant.agent, {
    targets: { ids: idsB.slice(0, 1) },
    action: { setCategory: { category: "GENERAL" } },
  });
  await waitFor(server.db, probeA.dbId, finished);
  await waitFor(server.db, probeB.dbId, finished);
  const query = `subscription { bulkOperationsChanged { ${OPERATION_FIELDS} } }`;
  const feedA = record<Changed>(clientA, query);
  const feedB = record<Changed>(clientB, query);
  const live = async (feed: typeof feedA, tenantId: string, probe: { id: string; dbId: string }) => {
    const payload = progressPayload({ tenantId, operationId: probe.dbId });
    for (let i = 0; i < 200 && !feed.events.some((e) => e.data.bulkOperationsChanged.id === probe.id); i++) {
      await sql`SELECT pg_notify(${PROGRESS_CHANNEL}, ${payload})`.execute(server.db);
      await new Promise((r) => setTimeout(r, 50));
    }
    await feed.waitFor((e) => e.bulkOperationsChanged.id === probe.id, 1000);
  };
  await live(feedA, server.tenant.id, probeA);
  await live(feedB, server.otherTenant.id, probeB);

  // The feed shows the run, not just the end: opA pauses at 100 (a locked ticket in chunk 2).
  // Released below once opA is seen paused; on a failure before that, when the scope ends.
  await using gate = await holdTicketLocks(server.databaseUrl, [dbTicketIds[100]]);
  const opA = await startOk(server, server.tenant.agent, {
    targets: { ids: idsA },
    action: { setPriority: { priority: "URGENT" } },
  });
  await feedA.waitFor((e) =>
    e.bulkOperationsChanged.id === opA.id && e.bulkOperationsChanged.counts.processed === 100 &&
    e.bulkOperationsChanged.status === "RUNNING"
  );
  await gate.release();
  await feedA.waitFor(isEnd(opA.id));
  const opB = await startOk(server, server.otherTenant.agent, {
    targets: { ids: idsB },
    action: { setPriority: { priority: "LOW" } },
  });
  await feedB.waitFor(isEnd(opB.id));
  // One more of A's after B's: A's feed has by then had every chance to receive B's changes.
  const opA2 = await startOk(server, server.tenant.admin, {
    targets: { ids: idsA.slice(0, 10) },
    action: { setCategory: { category: "BILLING" } },
  });
  await feedA.waitFor(isEnd(opA2.id));

  expect(feedA.errors).toEqual([]);
  expect(feedB.errors).toEqual([]);
  const seenA = new Set(feedA.events.map((e) => e.data.bulkOperationsChanged.id));
  const seenB = new Set(feedB.events.map((e) => e.data.bulkOperationsChanged.id));
  expect([...seenA].sort()).toEqual([probeA.id, opA.id, opA2.id].sort());
  expect([...seenB].sort()).toEqual([probeB.id, opB.id].sort());
  const ofA = feedA.events.map((e) => e.data.bulkOperationsChanged).filter((v) => v.id === opA.id);
  expect(ofA.at(-1)!.counts.processed).toBe(300);
  console.log(
    `feed A: ${feedA.events.length} events (${ofA.map((v) => `${v.status}@${v.counts.processed}`).join(", ")}); ` +
      `feed B: ${feedB.events.length} events`,
  );
  feedA.unsubscribe();
  feedB.unsubscribe();
});
