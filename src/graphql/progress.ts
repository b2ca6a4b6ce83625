/**
 * Live operation state for subscriptions, built on the process's one LISTEN connection
 * (src/bulk/events.ts):
 * - coalescing: each subscriber gets at most one event per MIN_INTERVAL_MS per operation,
 *   and it always carries the latest state (a burst of chunk commits becomes one event);
 * - one feed per operation and process: its subscribers share one throttle and get the same
 *   states, as the same row objects, so their GraphQL executions are shared as well
 *   (shared-events.ts);
 * - single-flight reads: subscribers of one operation woken by the same NOTIFY share one
 *   SELECT (100 dashboards on one operation cost one query per event, not 100);
 * - the terminal state is always delivered: every chunk commit NOTIFYs, a read that
 *   starts after a NOTIFY sees that commit, a failed read is retried with backoff until it
 *   succeeds or the subscriber leaves, and after the LISTEN connection was replaced
 *   (lost, or silent past its liveness check) every subscriber re-reads.
 */
import { setImmediate } from "node:timers";
import { Repeater } from "graphql-yoga";
import { sql } from "kysely";
import { findOperation, isTerminal, type OperationRow } from "../bulk/operation.ts";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import type { Services } from "./context.ts";

/**
 * At most ~20 events per second per subscriber and operation. Why 50 and not 100 (issue 18): a state that
 * commits inside the window waits for its end, so the window is a floor under the commit -> client latency's
 * p99 (target 100 ms at 1,000 subscribers), and at 100 the target could not be met whatever the fan-out cost.
 * The price is small because the commits bound the events: 50,000 items in chunks of 2,000 on two workers are
 * 27 commits; bench/api_bench.ts --subscribers 1000 delivered 21-23 events each at 100 ms, 23-25 at 50 ms
 * (docs/performance.md, "at scale").
 */
export const MIN_INTERVAL_MS = 50;

/**
 * Subscribers handed a state between two turns of the event loop. Why (issue 18): a WebSocket send only queues the
 * frame, which is written when the event loop next turns, so with all 1,000 subscribers served in one go not one
 * frame left before the whole burst's JavaScript had run (~60-90 ms of wall time on the loaded 2-core machine,
 * measured from the read to the first send: 31-63 ms), and the front door's thread and the clients then had the
 * frames all at once. Yielding every FANOUT_BATCH subscribers lets the first frames out while the next ones are
 * prepared, so the door and the clients work beside the main thread: bench/api_bench.ts --subscribers 1000, read ->
 * first send 62-63 -> 1.4-1.8 ms, commit -> first subscriber p50 182-247 -> 121-136 ms at load 5-7; the spread to the
 * last subscriber grew, and p99 showed no change through the noise of load 5-14 (docs/performance.md, "Session 4:
 * the fan-out", which says why the batches were kept). A turn costs ~15-30 us (setImmediate; setTimeout(0) is clamped to ~2 ms once nested).
 */
export const FANOUT_BATCH = 100;

/** One turn of the event loop: the frames queued so far are written, other I/O (the LISTEN connection) is read. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Flight {
  seq: number;
  promise: Promise<OperationRow | undefined>;
}

/** Shared reads: one in-flight SELECT per operation serves every reader that it is fresh enough for. */
export class SnapshotReader {
  #seq = new Map<string, number>();
  #flights = new Map<string, Flight>();

  constructor(private readonly db: Db) {}

  /** Records that the operation changed (called on each NOTIFY before readers are woken). */
  changed(operationId: string): void {
    this.#seq.set(operationId, (this.#seq.get(operationId) ?? 0) + 1);
  }

  read(tenantId: string, operationId: string): Promise<OperationRow | undefined> {
    const seq = this.#seq.get(operationId) ?? 0;
    const flight = this.#flights.get(operationId);
    if (flight && flight.seq >= seq) return flight.promise;
    const promise = findOperation(this.db, tenantId, operationId);
    const entry = { seq, promise };
    this.#flights.set(operationId, entry);
    promise.finally(() => {
      if (this.#flights.get(operationId) === entry) this.#flights.delete(operationId);
      if ((this.#seq.get(operationId) ?? 0) === seq && !this.#flights.has(operationId)) {
        // Nothing newer is pending: forget the counter so the map does not grow forever.
        this.#seq.delete(operationId);
      }
    }).catch(() => {});
    return promise;
  }
}

/** A failed read is retried after 100 ms, doubling up to 5 s, until it succeeds or the subscriber leaves. */
export function readRetryDelayMs(failures: number): number {
  return Math.min(5000, 100 * 2 ** Math.max(0, failures - 1));
}

interface KeyState {
  last: number;
  timer?: ReturnType<typeof setTimeout>;
  running: boolean;
  again: boolean;
  /** Consecutive failed flushes (the backoff of the next retry). */
  failures: number;
}

/**
 * Per-key throttle: `touch(key)` asks for a flush of `key`; flushes of one key start at
 * least `intervalMs` apart, never overlap, and a touch during a flush causes one more.
 * A flush that fails (e.g. the database restarting) is retried with backoff until it
 * succeeds or the throttle is cleared: the state it would have delivered (maybe the
 * terminal one, after the last NOTIFY) must not be lost.
 */
class KeyedThrottle {
  #state = new Map<string, KeyState>();
  #cleared = false;

  constructor(private readonly intervalMs: number, private readonly flush: (key: string) => Promise<void>) {}

  touch(key: string): void {
    if (this.#state.size > 1000) this.#prune();
    const state = this.#state.get(key) ?? { last: 0, running: false, again: false, failures: 0 };
    this.#state.set(key, state);
    if (state.running) {
      state.again = true;
      return;
    }
    if (state.timer !== undefined) return;
    this.#schedule(key, state, Math.max(0, state.last + this.intervalMs - Date.now()));
  }

  #schedule(key: string, state: KeyState, delayMs: number): void {
    state.timer = setTimeout(async () => {
      state.timer = undefined;
      state.running = true;
      // The interval runs from one flush's start to the next: counted from its end, a state committed while the
      // fan-out of the last one ran (~80 ms of CPU at 1,000 subscribers) also waited the whole window after it.
      state.last = Date.now();
      let failed = false;
      try {
        await this.flush(key);
        state.failures = 0;
      } catch (error) {
        failed = true;
        state.failures++;
        log.warn(
          "progress",
          `reading ${key} failed (${state.failures}x, retrying in ${readRetryDelayMs(state.failures)} ms): ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      } finally {
        state.running = false;
        if (this.#cleared) {
          // The subscriber left during the flush: nothing more to deliver.
        } else if (failed) {
          state.again = false; // the retry reads the latest state anyway
          this.#schedule(key, state, readRetryDelayMs(state.failures));
        } else if (state.again) {
          state.again = false;
          this.touch(key);
        }
      }
    }, delayMs);
  }

  /** Forgets idle keys (a long-lived tenant feed sees every operation of the tenant). */
  #prune(): void {
    const now = Date.now();
    for (const [key, state] of this.#state) {
      if (!state.running && state.timer === undefined && now - state.last > this.intervalMs) this.#state.delete(key);
    }
  }

  clear(): void {
    this.#cleared = true;
    for (const state of this.#state.values()) clearTimeout(state.timer);
    this.#state.clear();
  }
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/**
 * One subscriber's end of a feed, as the async iterator its subscription reads: its states go out in order, and
 * while its consumer is still busy with one (a slow socket) only the latest of the states that arrive meanwhile is
 * kept, so a slow subscriber neither holds up the others nor queues states without bound; after the terminal state
 * it ends. It joins its feed at its first next() and leaves it at the terminal state, at return() or when the
 * operation is gone.
 *
 * Why not a Repeater (graphql-yoga's, as before): each push made about eight promises and closures, and push was
 * 16% of the main thread's busy time in a V8 profile of 1,000 subscribers (461 ms of self time over 24 events: 19 us
 * per subscriber and event on the loaded machine); here a state is one object handed to a waiting next()
 * (docs/performance.md, "Session 4: the fan-out").
 */
class FeedSubscriber implements AsyncIterableIterator<OperationRow> {
  #latest: OperationRow | undefined;
  #waiting: ((result: IteratorResult<OperationRow>) => void) | undefined;
  #feed: OperationFeed | undefined;
  /** No state will come any more (the terminal one came, the operation is gone, or the consumer left). */
  #ended = false;

  constructor(private readonly openFeed: () => OperationFeed) {}

  deliver(row: OperationRow): void {
    if (this.#ended) return;
    if (isTerminal(row.status)) this.#leave();
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: row, done: false });
    } else {
      this.#latest = row;
    }
  }

  /** The operation is gone: the state not yet taken, if any, is the last. */
  stop(): void {
    this.#leave();
    this.#settle(DONE);
  }

  next(): Promise<IteratorResult<OperationRow>> {
    if (this.#waiting) return Promise.reject(new Error("next() called again before the previous one settled"));
    if (!this.#feed && !this.#ended) {
      this.#feed = this.openFeed();
      this.#feed.join(this);
    }
    const row = this.#latest;
    if (row) {
      this.#latest = undefined;
      return Promise.resolve({ value: row, done: false });
    }
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise((resolve) => this.#waiting = resolve);
  }

  return(): Promise<IteratorResult<OperationRow>> {
    this.#latest = undefined;
    this.#leave();
    this.#settle(DONE);
    return Promise.resolve(DONE);
  }

  throw(error: unknown): Promise<IteratorResult<OperationRow>> {
    void this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<OperationRow> {
    return this;
  }

  #settle(result: IteratorResult<OperationRow>): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(result);
  }

  #leave(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#feed?.leave(this);
  }
}

/**
 * One operation's coalesced states, shared by all its subscribers in this process: one
 * throttle, one read per event and the SAME row object delivered to every subscriber, so that
 * the GraphQL execution of an event can be shared too (shared-events.ts). Measured with
 * bench/api_bench.ts: with a throttle per subscriber, 1,000 subscribers meant 1,000 timers, and
 * reads and executions spread over the 100 ms window; now the subscribers cost ~50 instead of ~130 us of CPU
 * per subscriber and event (docs/performance.md, "at scale").
 *
 * A subscriber that joins waits in `#joining` for its snapshot: the next read, whether caused
 * by a NOTIFY or not, goes to it. The other subscribers get a read only when a NOTIFY came
 * since the previous read started (a join alone changes nothing for them). A read that started
 * before a subscriber joined is still a valid snapshot for it: any commit after that read
 * started sends a NOTIFY, which causes one more read, delivered to every subscriber.
 */
class OperationFeed {
  #joining = new Set<FeedSubscriber>();
  #live = new Set<FeedSubscriber>();
  /** A NOTIFY arrived since the last read started. */
  #changed = false;
  readonly #throttle: KeyedThrottle;
  readonly #unlisten: () => void;

  constructor(
    services: Services,
    private readonly tenantId: string,
    private readonly operationId: string,
    private readonly onIdle: () => void,
  ) {
    this.#throttle = new KeyedThrottle(MIN_INTERVAL_MS, () => this.#flush(services.snapshots));
    this.#unlisten = services.events.onOperation(operationId, () => {
      this.#changed = true;
      services.snapshots.changed(operationId);
      this.#throttle.touch(operationId);
    });
  }

  join(subscriber: FeedSubscriber): void {
    this.#joining.add(subscriber);
    this.#throttle.touch(this.operationId);
  }

  leave(subscriber: FeedSubscriber): void {
    this.#joining.delete(subscriber);
    this.#live.delete(subscriber);
    if (this.#joining.size + this.#live.size > 0) return;
    this.#unlisten();
    this.#throttle.clear();
    this.onIdle();
  }

  async #flush(reader: SnapshotReader): Promise<void> {
    const changed = this.#changed;
    this.#changed = false;
    let row: OperationRow | undefined;
    try {
      row = await reader.read(this.tenantId, this.operationId);
    } catch (error) {
      this.#changed ||= changed; // the retry must still reach the live subscribers
      throw error;
    }
    if (!row) {
      // The operation is gone (retention): no subscriber will get another state.
      for (const subscriber of [...this.#live, ...this.#joining]) subscriber.stop();
      return;
    }
    const recipients = changed ? [...this.#live, ...this.#joining] : [...this.#joining];
    for (const subscriber of this.#joining) this.#live.add(subscriber);
    this.#joining.clear();
    // Over several turns (FANOUT_BATCH): the throttle runs no other flush meanwhile (a NOTIFY now causes one more
    // after this one), a subscriber that leaves meanwhile ignores its state, one that joins waits for the next read.
    for (let i = 0; i < recipients.length; i++) {
      if (i > 0 && i % FANOUT_BATCH === 0) await nextTurn();
      recipients[i].deliver(row);
    }
  }
}

/** The open feeds of each process's event fan-in, by tenant and operation. */
const feedsByEvents = new WeakMap<Services["events"], Map<string, OperationFeed>>();

/**
 * One operation's states: the current snapshot at once, then coalesced changes, then
 * the terminal state, after which the stream ends. The caller checked the tenant.
 */
export function operationProgress(
  services: Services,
  tenantId: string,
  operationId: string,
): AsyncIterable<OperationRow> {
  const feeds = feedsByEvents.get(services.events) ?? new Map<string, OperationFeed>();
  feedsByEvents.set(services.events, feeds);
  // By tenant too: the row a feed reads is the tenant's (findOperation filters by it).
  const key = `${tenantId}:${operationId}`;
  return new FeedSubscriber(() => {
    let feed = feeds.get(key);
    if (!feed) {
      feed = new OperationFeed(services, tenantId, operationId, () => feeds.delete(key));
      feeds.set(key, feed);
    }
    return feed;
  });
}

/** The throttle key of a tenant feed's resync (never an operation id, which is a uuid). */
const RESYNC = "resync";

/** Operations of the tenant not yet ended or ended within the last 10 minutes. */
async function recentlyActive(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom("bulk_operations").select("id").where("tenant_id", "=", tenantId)
    .where((eb) =>
      eb.or([eb("finished_at", "is", null), eb("finished_at", ">", sql<Date>`now() - interval '10 minutes'`)])
    )
    .orderBy("created_at", "desc").limit(500).execute();
  return rows.map((row) => row.id);
}

/** Every change of any operation of the tenant, coalesced per operation (dashboards). */
export function tenantOperationChanges(
  services: Services,
  tenantId: string,
): AsyncIterable<OperationRow> {
  const reader = services.snapshots;
  return new Repeater<OperationRow>(async (push, stop) => {
    const throttle = new KeyedThrottle(MIN_INTERVAL_MS, async (key) => {
      if (key === RESYNC) {
        (await recentlyActive(services.db, tenantId)).forEach(touch);
        return;
      }
      const row = await reader.read(tenantId, key);
      if (row) await push(row);
    });
    const touch = (operationId: string) => {
      reader.changed(operationId);
      throttle.touch(operationId);
    };
    // operationId "" is the resync after the LISTEN connection was replaced: NOTIFYs sent
    // meanwhile are lost, so every operation that may have changed (not ended, or ended
    // recently) is re-read; through the throttle, so a failed listing is retried as well.
    const unsubscribe = services.events.onTenant(
      tenantId,
      ({ operationId }) => operationId ? touch(operationId) : throttle.touch(RESYNC),
    );
    await stop;
    unsubscribe();
    throttle.clear();
  });
}
