/**
 * Subscriptions never miss the terminal state:
 * - the LISTEN connection goes through a real TCP proxy that stops forwarding in the middle
 *   of an operation (half-open: no FIN, no RST, just silence, as after a dead NAT entry).
 *   The liveness check notices, the connection is replaced, every subscriber re-reads;
 * - the snapshot reads after the last NOTIFY fail (the database refuses new connections and
 *   the API's are gone): they are retried with backoff until they succeed.
 * Both for bulkOperationProgress and bulkOperationsChanged, over graphql-ws and SSE.
 */
import { expect } from "expect";
import { sql } from "kysely";
import pg from "pg";
import { PROGRESS_CHANNEL, progressPayload } from "../src/bulk/events.ts";
import { MIN_INTERVAL_MS } from "../src/graphql/progress.ts";
import { ticketIds } from "./helpers/bulk.ts";
import { sleep } from "./helpers/bulk_checks.ts";
import { wsClient } from "./helpers/graphql.ts";
import {
  type Gate,
  holdTicketLocks,
  OPERATION_FIELDS,
  type OperationView,
  PROGRESS,
  record,
  sse,
  startOk,
  ticketGid,
} from "./helpers/api.ts";
import { connectClient } from "./helpers/pg_client.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const CHUNK = 100;
const CHECK_MS = 500;
const TERMINAL = ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"];
const CHANGED = `subscription Changed { bulkOperationsChanged { ${OPERATION_FIELDS} } }`;

/**
 * A TCP proxy to the test PostgreSQL whose connections can be frozen: halt() stops
 * forwarding on every connection open at that moment without closing anything (bytes read
 * are held back); connections opened later are forwarded normally.
 */
class HaltingProxy implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #pumps: Promise<void>[] = [];
  #generation = 0;
  #released!: () => void;
  readonly #closed = new Promise<void>((resolve) => (this.#released = resolve));
  /** Connections accepted so far. */
  accepted = 0;

  constructor(private readonly targetPort: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#pumps.push(this.#accept());
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
        this.accepted++;
        this.#conns.add(client).add(upstream);
        const generation = this.#generation;
        this.#pumps.push(this.#pump(client, upstream, generation), this.#pump(upstream, client, generation));
      }
    } catch { /* listener closed */ }
  }

  async #pump(from: Deno.TcpConn, to: Deno.TcpConn, generation: number): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        // Halted: hold everything back, close nothing, until the proxy is shut down.
        if (generation < this.#generation) return await this.#closed;
        await to.write(buffer.subarray(0, n));
      }
    } catch { /* closed */ }
    await to.closeWrite().catch(() => {}); // the peer's FIN, passed on (unless already closed)
  }

  /** Every connection open now goes silent in both directions. */
  halt(): void {
    this.#generation++;
  }

  async close(): Promise<void> {
    this.#released();
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await Promise.all(this.#pumps);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

interface Subscriber {
  name: string;
  /** Resolves with the first view matching `predicate`, past or future. */
  waitFor(predicate: (view: OperationView) => boolean, timeoutMs: number): Promise<OperationView>;
  seen(predicate: (view: OperationView) => boolean): boolean;
}

/** graphql-ws subscribers: the operation's progress and the tenant feed (filtered to the operation). */
function wsSubscribers(server: TestServer, operationGid: string) {
  const client = wsClient(server.wsUrl, server.tenant.agent.token);
  const progress = record<{ bulkOperationProgress: OperationView }>(client, PROGRESS, { id: operationGid });
  const changed = record<{ bulkOperationsChanged: OperationView }>(client, CHANGED);
  const subscribers: Subscriber[] = [
    {
      name: "graphql-ws bulkOperationProgress",
      waitFor: async (p, ms) => (await progress.waitFor((e) => p(e.bulkOperationProgress), ms)).bulkOperationProgress,
      seen: (p) => progress.events.some((e) => p(e.data.bulkOperationProgress)),
    },
    {
      name: "graphql-ws bulkOperationsChanged",
      waitFor: async (p, ms) =>
        (await changed.waitFor((e) => e.bulkOperationsChanged.id === operationGid && p(e.bulkOperationsChanged), ms))
          .bulkOperationsChanged,
      seen: (p) =>
        changed.events.some((e) => e.data.bulkOperationsChanged.id === operationGid && p(e.data.bulkOperationsChanged)),
    },
  ];
  return { subscribers, dispose: () => client.dispose() };
}

/** An SSE subscriber reading in the background; `field` is the subscription's root field. */
function sseSubscriber(
  server: TestServer,
  query: string,
  variables: Record<string, unknown>,
  field: string,
  operationGid: string,
  signal: AbortSignal,
): Subscriber {
  const views: OperationView[] = [];
  const reading = (async () => {
    for await (const event of sse(server.graphqlUrl, server.tenant.agent.token, query, variables, signal)) {
      if (event.event !== "next") continue;
      const view = JSON.parse(event.data).data?.[field] as OperationView | undefined;
      if (view?.id === operationGid) views.push(view);
    }
  })().catch(() => {});
  return {
    name: `SSE ${field}`,
    async waitFor(predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const view = views.find(predicate);
        if (view) return view;
        if (Date.now() > deadline) {
          await Promise.race([reading, sleep(0)]);
          throw new Error(`SSE ${field}: no matching event in ${timeoutMs} ms; last ${JSON.stringify(views.at(-1))}`);
        }
        await sleep(10);
      }
    },
    seen: (predicate) => views.some(predicate),
  };
}

/** Four subscribers of one operation: progress and tenant feed, over graphql-ws and SSE. */
function subscribeAll(server: TestServer, operationGid: string) {
  const abort = new AbortController();
  const ws = wsSubscribers(server, operationGid);
  const subscribers = [
    ...ws.subscribers,
    sseSubscriber(server, PROGRESS, { id: operationGid }, "bulkOperationProgress", operationGid, abort.signal),
    sseSubscriber(server, CHANGED, {}, "bulkOperationsChanged", operationGid, abort.signal),
  ];
  return {
    subscribers,
    async [Symbol.asyncDispose]() {
      abort.abort();
      await ws.dispose();
    },
  };
}

/**
 * An operation of 100-item chunks paused at each of `pauses` (a row lock on a ticket of that
 * chunk), the first being 0, with every subscriber of subscribeAll() holding a first event.
 * bulkOperationsChanged sends no snapshot, so the operation's own NOTIFY is repeated until
 * each subscriber has read it (a subscription is set up asynchronously). `await using` opens the
 * gates, then closes the subscriptions; both are released if the setup itself fails.
 */
async function pausedOperation(server: TestServer, pauses: number[]) {
  const ids = await ticketIds(server.db, server.tenant.id);
  await using owned = new AsyncDisposableStack();
  const gates: Gate[] = [];
  for (const at of pauses) gates.push(owned.use(await holdTicketLocks(server.databaseUrl, [ids[at + 20]])));
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  const subscriptions = owned.use(subscribeAll(server, op.id));
  for (const gate of gates) owned.defer(() => gate.release()); // first: the operation runs on meanwhile
  const deadline = Date.now() + 30_000;
  while (!subscriptions.subscribers.every((s) => s.seen(() => true))) {
    if (Date.now() > deadline) throw new Error("the subscribers never got their first event");
    await sql`SELECT pg_notify(${PROGRESS_CHANNEL}, ${
      progressPayload({ tenantId: server.tenant.id, operationId: op.dbId })
    })`
      .execute(server.db);
    await sleep(100);
  }
  const release = owned.move();
  return { op, gates, subscriptions, [Symbol.asyncDispose]: () => release.disposeAsync() };
}

const processed = (n: number) => (view: OperationView) => view.counts.processed === n;
const terminal = (view: OperationView) => TERMINAL.includes(view.status);

/** Every subscriber sees `predicate` within `timeoutMs`; returns how long the slowest took. */
async function allSee(
  subscribers: Subscriber[],
  predicate: (view: OperationView) => boolean,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  const times = await Promise.all(subscribers.map(async (s) => {
    await s.waitFor(predicate, timeoutMs).catch((error) => {
      throw new Error(`${s.name}: ${error.message}`);
    });
    return performance.now() - started;
  }));
  return Math.round(Math.max(...times));
}

Deno.test("a LISTEN connection gone silent (half-open proxy) is replaced: every subscriber gets the terminal state", async () => {
  const pgPort = Number(new URL(Deno.env.get("TEST_PG_URL")!).port);
  await using proxy = new HaltingProxy(pgPort);
  await using server = await startTestServer({
    tickets: 600,
    listenPort: proxy.port,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK), LISTEN_CHECK_MS: String(CHECK_MS) },
  });
  const listening = proxy.accepted;
  expect(listening).toBeGreaterThanOrEqual(1); // the LISTEN connections go through the proxy
  await using live = await pausedOperation(server, [0, 300]);
  const { subscriptions, gates } = live;
  await gates[0].release();
  await allSee(subscriptions.subscribers, processed(300), 30_000);
  // A read already scheduled by the throttle (up to MIN_INTERVAL_MS away) would see the end
  // without any NOTIFY: let those run out while the gate holds the operation at 300.
  await sleep(MIN_INTERVAL_MS * 5);

  proxy.halt();
  await gates[1].release(); // the operation runs to its end; its NOTIFYs reach the proxy and stop there
  // Silence is noticed within two check periods, then a reconnect (100 ms) and one read.
  const bound = 2 * CHECK_MS + 3000;
  const tookMs = await allSee(subscriptions.subscribers, terminal, bound);
  console.log(`terminal state at every subscriber ${tookMs} ms after the LISTEN connection went silent`);
  expect(proxy.accepted).toBeGreaterThan(listening); // replaced through the proxy
});

Deno.test("snapshot reads that fail after the last NOTIFY are retried until they succeed", async () => {
  await using server = await startTestServer({ tickets: 300, env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) } });
  // On the test database (opened before it refuses connections), and on the server's admin
  // database (a database cannot refuse connections to itself from its own session).
  await using control = await connectClient({ connectionString: server.databaseUrl, application_name: "test control" });
  await using admin = await connectClient({
    connectionString: Deno.env.get("TEST_PG_URL"),
    application_name: "test control",
  });
  const database = new URL(server.databaseUrl).pathname.slice(1);
  const allowConnections = (allow: boolean) =>
    admin.query(`ALTER DATABASE ${pg.escapeIdentifier(database)} WITH ALLOW_CONNECTIONS ${allow}`);
  await using live = await pausedOperation(server, [0, 200]);
  const { op, subscriptions, gates } = live;
  try {
    await gates[0].release();
    await allSee(subscriptions.subscribers, processed(200), 30_000);

    // The API process loses its pooled connections and cannot open new ones; the worker's
    // stay open, and so does the LISTEN connection: the last NOTIFY arrives, its reads fail.
    await allowConnections(false);
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'bulk-ops api'`,
      [database],
    );
    await gates[1].release();
    const deadline = Date.now() + 30_000;
    while (
      (await control.query(`SELECT finished_at FROM bulk_operations WHERE id = $1`, [op.dbId])).rows[0]
        .finished_at === null
    ) {
      if (Date.now() > deadline) throw new Error("the operation did not finish");
      await sleep(20);
    }
    await sleep(1000); // the reads of the terminal state fail meanwhile
    for (const subscriber of subscriptions.subscribers) {
      expect([subscriber.name, subscriber.seen(terminal)]).toEqual([
        subscriber.name,
        false,
      ]);
    }

    await allowConnections(true);
    // The retry backoff doubles from 100 ms: after ~1 s of failures the next try is at most 1.6 s away.
    const tookMs = await allSee(subscriptions.subscribers, terminal, 5000);
    console.log(`terminal state at every subscriber ${tookMs} ms after the database accepted connections again`);
  } finally {
    // Restores the database's state (not a resource): the server's own cleanup needs connections again.
    await allowConnections(true).catch(() => {});
  }
});
