/**
 * Live progress fanned out to many graphql-ws subscribers (issue 18, "Live progress at scale"),
 * over real sockets: subscribers of one operation share one coalesced feed (every subscriber
 * gets the same states in the same order, then the terminal one), and their events' GraphQL
 * executions are shared per document + variables + viewer, so the executions per event do not
 * grow with the subscribers (counted by /metrics' graphql_subscription_event_executions_total).
 * Operations are paused by row locks on a later chunk's ticket (WORKERS=1: chunks run in order),
 * so that every subscriber has its snapshot before progress resumes.
 */
import { expect } from "expect";
import type { Client } from "graphql-ws";
import { ticketIds } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { wsClient } from "./helpers/graphql.ts";
import {
  gateWaiters,
  holdTicketLocks,
  ledgerCounts,
  type OperationView,
  PROGRESS,
  record,
  type Recorded,
  startOk,
  ticketGid,
  until,
  within,
} from "./helpers/api.ts";
import { scrape, valueOf } from "./helpers/prometheus.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { setImmediate } from "node:timers";
import type { Services } from "../src/graphql/context.ts";
import { FANOUT_BATCH, operationProgress, SnapshotReader } from "../src/graphql/progress.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";

type ProgressEvent = { bulkOperationProgress: OperationView };
const CHUNK = 100;
const EXECUTIONS = "graphql_subscription_event_executions_total";
const SERIALIZATIONS = "graphql_ws_next_payload_serializations_total";

interface Subscribers extends AsyncDisposable {
  clients: Client[];
  recorded: Recorded<ProgressEvent>[];
}

/**
 * `count` sockets of `user`, each with one bulkOperationProgress subscription on `operationId`;
 * `await using` closes them all (at once) when the scope ends.
 */
function subscribeMany(server: TestServer, user: TestUser, count: number, operationId: string): Subscribers {
  const clients = Array.from({ length: count }, () => wsClient(server.wsUrl, user.token));
  return {
    clients,
    recorded: clients.map((client) => record<ProgressEvent>(client, PROGRESS, { id: operationId })),
    [Symbol.asyncDispose]: async () => void await Promise.all(clients.map((client) => client.dispose())),
  };
}

/** Waits until every subscriber has its first event (the snapshot). */
async function snapshots(groups: Subscribers[]): Promise<void> {
  const all = groups.flatMap((group) => group.recorded);
  await until(
    `all ${all.length} subscribers have their snapshot`,
    () => all.every((rec) => rec.events.length > 0 || rec.errors.length > 0) ? true : undefined,
  );
}

/** Waits until the worker (WORKERS=1) is blocked on a gate's row lock. */
const blocked = (server: TestServer) =>
  until("the worker waits on a gated ticket", async () => (await gateWaiters(server.db)) === 1 ? true : undefined);

/** What a subscriber saw, in order: status and processed count of each event. */
const statesOf = (rec: Recorded<ProgressEvent>) =>
  rec.events.map(({ data: { bulkOperationProgress: view } }) => `${view.status}/${view.counts.processed}`);

/** Every subscriber of the groups completed without errors and saw exactly the same states as the first. */
async function expectSameStates(server: TestServer, groups: Subscribers[], operation: { id: string; dbId: string }) {
  const all = groups.flatMap((group) => group.recorded);
  await within(Promise.all(all.map((rec) => rec.done)), 60_000, "every subscription completes");
  for (const rec of all) {
    expect(rec.errors).toEqual([]);
    expect(rec.completed).toBe(true);
  }
  const states = statesOf(all[0]);
  for (const rec of all) expect(statesOf(rec)).toEqual(states);
  const views = all[0].events.map((e) => e.data.bulkOperationProgress);
  expect(views.every((view) => view.id === operation.id)).toBe(true);
  for (let i = 1; i < views.length; i++) {
    expect(views[i].counts.processed).toBeGreaterThanOrEqual(views[i - 1].counts.processed);
  }
  const row = await expectConsistent(server.db, operation.dbId);
  const last = views.at(-1)!;
  expect(last.status).toBe(row.status);
  expect(last.counts).toEqual({ ...(await ledgerCounts(server.db, operation.dbId)), processed: row.total, pending: 0 });
  return views;
}

Deno.test("200 subscribers of two tenants and two roles: every coalesced state in the same order, then the terminal one; no tenant sees another's", async () => {
  await using server = await startTestServer({
    tickets: 1000,
    // One socket per subscriber, many per token: above the per-token socket cap (issue 15) on purpose.
    env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK), WS_MAX_SOCKETS_PER_TOKEN: "1000" },
  });
  const { tenant, otherTenant } = server;
  await insertTickets(server.db, otherTenant.id, 400);
  const idsA = await ticketIds(server.db, tenant.id);
  const idsB = await ticketIds(server.db, otherTenant.id);
  await using gateA = await holdTicketLocks(server.databaseUrl, [idsA[250]]);
  await using gateB = await holdTicketLocks(server.databaseUrl, [idsB[150]]);
  const opA = await startOk(server, tenant.agent, {
    targets: { ids: idsA.map(ticketGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  await blocked(server); // opA at 200 of 1000
  const opB = await startOk(server, otherTenant.agent, {
    targets: { ids: idsB.map(ticketGid) },
    action: { setPriority: { priority: "LOW" } },
  });
  await using agentsA = subscribeMany(server, tenant.agent, 60, opA.id);
  await using viewersA = subscribeMany(server, tenant.viewer, 60, opA.id);
  await using agentsB = subscribeMany(server, otherTenant.agent, 40, opB.id);
  await using viewersB = subscribeMany(server, otherTenant.viewer, 40, opB.id);
  const groupsA = [agentsA, viewersA];
  const groupsB = [agentsB, viewersB];
  // Tenant B's agent asks for tenant A's operation, with the same document and viewer role as A's agents.
  await using intruder = subscribeMany(server, otherTenant.agent, 1, opA.id);
  await snapshots([...groupsA, ...groupsB, intruder]);

  await gateA.release();
  await blocked(server); // the worker moved on to opB (or finished opA first) and waits on B's gate
  await gateB.release();

  const viewsA = await expectSameStates(server, groupsA, opA);
  const viewsB = await expectSameStates(server, groupsB, opB);
  // At least the snapshot (A's at its first gate) and the terminal state.
  expect(viewsA.length).toBeGreaterThanOrEqual(2);
  expect(viewsA[0].counts.processed).toBe(200);
  expect(viewsB.length).toBeGreaterThanOrEqual(2);
  const [rec] = intruder.recorded;
  await within(rec.done, 30_000, "the other tenant's subscription ends");
  expect(rec.events).toEqual([]);
  expect(rec.errors).toMatchObject([{ extensions: { code: "NOT_FOUND" } }]);
  console.log(
    `states of A: ${statesOf(groupsA[0].recorded[0]).join(", ")}; of B: ${statesOf(groupsB[0].recorded[0])}`,
  );
});

Deno.test("one GraphQL execution and one payload serialisation per event, document and viewer, however many subscribers share them", async () => {
  await using server = await startTestServer({
    tickets: 600,
    // One socket per subscriber, many per token: above the per-token socket cap (issue 15) on purpose.
    env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK), WS_MAX_SOCKETS_PER_TOKEN: "1000" },
  });
  const ids = await ticketIds(server.db, server.tenant.id);
  await using firstGate = await holdTicketLocks(server.databaseUrl, [ids[250]]);
  await using secondGate = await holdTicketLocks(server.databaseUrl, [ids[450]]);
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  await blocked(server);
  await using agents = subscribeMany(server, server.tenant.agent, 40, op.id);
  await using viewers = subscribeMany(server, server.tenant.viewer, 40, op.id);
  const groups = [agents, viewers];
  await snapshots(groups);
  const metricsBefore = await scrape(`${server.url}/metrics`);
  const before = valueOf(metricsBefore, EXECUTIONS);
  const serializationsBefore = valueOf(metricsBefore, SERIALIZATIONS);

  await firstGate.release();
  await blocked(server);
  await secondGate.release();
  const views = await expectSameStates(server, groups, op);
  const metricsAfter = await scrape(`${server.url}/metrics`);
  const executions = valueOf(metricsAfter, EXECUTIONS) - before;
  const serializations = valueOf(metricsAfter, SERIALIZATIONS) - serializationsBefore;

  // After the snapshots, each event went to 80 subscribers of two viewers: two executions each.
  const events = views.length - 1;
  expect(events).toBeGreaterThanOrEqual(2);
  expect(executions).toBe(2 * events);
  // And each shared result was serialised once for its 40 sockets, not once per socket.
  expect(serializations).toBe(2 * events);
  console.log(
    `${events} events after the snapshot to 80 subscribers (2 viewers): ${executions} executions, ` +
      `${serializations} payload serialisations`,
  );
});

Deno.test("a state reaches an operation's subscribers in batches of FANOUT_BATCH, the event loop turning between them", async () => {
  await using server = await startTestServer({ tickets: 10 }); // WORKERS=0: the operation stays as started
  const ids = await ticketIds(server.db, server.tenant.id);
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  // The app's own services but a reader of this test's: the feed is the one the app's sockets would share.
  const services: Services = {
    db: server.app.db,
    config: server.config,
    domain: ticketsDomain,
    events: server.app.events,
    snapshots: new SnapshotReader(server.app.db),
  };
  const count = 3 * FANOUT_BATCH + 50;
  const streams = Array.from(
    { length: count },
    () => operationProgress(services, server.tenant.id, op.dbId)[Symbol.asyncIterator](),
  );
  // Counts the turns of the event loop while the subscribers wait for their snapshot.
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  tick();
  try {
    const turnOfEach = await within(
      Promise.all(streams.map(async (stream) => {
        const { value } = await stream.next();
        expect(value?.id).toBe(op.dbId);
        return turns;
      })),
      30_000,
      `all ${count} subscribers have their snapshot`,
    );
    // One read for all: the first batch in one turn, each later batch after one more turn (before: all in one).
    expect(new Set(turnOfEach.slice(0, FANOUT_BATCH)).size).toBe(1);
    expect(new Set(turnOfEach).size).toBeGreaterThanOrEqual(Math.ceil(count / FANOUT_BATCH));
    expect(turnOfEach).toEqual([...turnOfEach].sort((a, b) => a - b));
  } finally {
    counting = false;
    await Promise.all(streams.map((stream) => stream.return?.()));
  }
});
