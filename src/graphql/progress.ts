/**
 * Live operation state for subscriptions, built on the process's one LISTEN connection
 * (src/bulk/events.ts):
 * - coalescing: each subscriber gets at most one event per MIN_INTERVAL_MS per operation,
 *   and it always carries the latest state (a burst of chunk commits becomes one event);
 * - single-flight reads: subscribers of one operation woken by the same NOTIFY share one
 *   SELECT (100 dashboards on one operation cost one query per event, not 100);
 * - the terminal state is always delivered: every chunk commit NOTIFYs, and a read that
 *   starts after a NOTIFY sees that commit.
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

/**
 * Per-key throttle: `touch(key)` asks for a flush of `key`; flushes of one key are at
 * least `intervalMs` apart, never overlap, and a touch during a flush causes one more.
 */
class KeyedThrottle {
  #state = new Map<string, { last: number; timer?: ReturnType<typeof setTimeout>; running: boolean; again: boolean }>();

  constructor(private readonly intervalMs: number, private readonly flush: (key: string) => Promise<void>) {}

  touch(key: string): void {
    if (this.#state.size > 1000) this.#prune();
    const state = this.#state.get(key) ?? { last: 0, running: false, again: false };
    this.#state.set(key, state);
    if (state.running) {
      state.again = true;
      return;
    }
    if (state.timer !== undefined) return;
    const delay = Math.max(0, state.last + this.intervalMs - Date.now());
    state.timer = setTimeout(async () => {
      state.timer = undefined;
      state.running = true;
      try {
        await this.flush(key);
      } catch (error) {
        // A failed read (e.g. the database restarting) must not kill the process; the
        // next change, or the resync after a reconnect, reads again.
        log.warn("progress", `reading ${key} failed: ${(error as Error).message}`);
      } finally {
        state.running = false;
        state.last = Date.now();
        if (state.again) {
          state.again = false;
          this.touch(key);
        }
      }
    }, delay);
  }

  /** Forgets idle keys (a long-lived tenant feed sees every operation of the tenant). */
  #prune(): void {
    const now = Date.now();
    for (const [key, state] of this.#state) {
      if (!state.running && state.timer === undefined && now - state.last > this.intervalMs) this.#state.delete(key);
    }
  }

  clear(): void {
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
    const throttle = new KeyedThrottle(MIN_INTERVAL_MS, async (operationId) => {
      const row = await reader.read(tenantId, operationId);
      if (row) await push(row);
    });
    const touch = (operationId: string) => {
      reader.changed(operationId);
      throttle.touch(operationId);
    };
    const unsubscribe = services.events.onTenant(tenantId, ({ operationId }) => {
      if (operationId) return touch(operationId);
      // A resync after the LISTEN connection came back: NOTIFYs sent meanwhile are lost, so
      // re-read every operation that may have changed (not ended, or ended recently).
      recentlyActive(services.db, tenantId).then((ids) => ids.forEach(touch)).catch(() => {});
    });
    await stop;
    unsubscribe();
    throttle.clear();
  });
}
