/**
 * Live operation state for subscriptions, built on the process's one LISTEN connection
 * (src/bulk/events.ts):
 * - coalescing: each subscriber gets at most one event per MIN_INTERVAL_MS per operation,
 *   and it always carries the latest state (a burst of chunk commits becomes one event);
 * - single-flight reads: subscribers of one operation woken by the same NOTIFY share one
 *   SELECT (100 dashboards on one operation cost one query per event, not 100);
 * - the terminal state is always delivered: every chunk commit NOTIFYs, a read that
 *   starts after a NOTIFY sees that commit, a failed read is retried with backoff until it
 *   succeeds or the subscriber leaves, and after the LISTEN connection was replaced
 *   (lost, or silent past its liveness check) every subscriber re-reads.
 */
import { Repeater } from "graphql-yoga";
import { sql } from "kysely";
import { findOperation, isTerminal, type OperationRow } from "../bulk/operation.ts";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import type { Services } from "./context.ts";

/** At most ~10 events per second per subscriber and operation. */
export const MIN_INTERVAL_MS = 100;

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
 * Per-key throttle: `touch(key)` asks for a flush of `key`; flushes of one key are at
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
            (error as Error).message
          }`,
        );
      } finally {
        state.running = false;
        state.last = Date.now();
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

/**
 * One operation's states: the current snapshot at once, then coalesced changes, then
 * the terminal state, after which the stream ends. The caller checked the tenant.
 */
export function operationProgress(
  services: Services,
  tenantId: string,
  operationId: string,
): AsyncIterable<OperationRow> {
  const reader = services.snapshots;
  return new Repeater<OperationRow>(async (push, stop) => {
    const throttle = new KeyedThrottle(MIN_INTERVAL_MS, async () => {
      const row = await reader.read(tenantId, operationId);
      if (!row) return stop();
      await push(row);
      if (isTerminal(row.status)) stop();
    });
    const unsubscribe = services.events.onOperation(operationId, () => {
      reader.changed(operationId);
      throttle.touch(operationId);
    });
    throttle.touch(operationId); // the snapshot, at once
    await stop;
    unsubscribe();
    throttle.clear();
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
