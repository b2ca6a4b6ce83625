/**
 * Operation state changes, delivered by PostgreSQL LISTEN/NOTIFY on ONE connection per
 * process (src/db/listen.ts) and fanned out in memory to every subscriber. Workers (in this
 * process or any other) send one NOTIFY per committed chunk, so progress made anywhere
 * arrives here. After the connection was lost or went silent and was replaced, every
 * subscriber re-reads (a NOTIFY sent meanwhile is gone, the database state is not).
 */
import { ListenConnection } from "../db/listen.ts";
import { log } from "../log.ts";

export const PROGRESS_CHANNEL = "bulk_progress";

export interface OperationChange {
  tenantId: string;
  operationId: string;
}

type Listener = (change: OperationChange) => void;

/** The NOTIFY payload: "<tenant uuid>:<operation uuid>" (fits well under the 8000-byte limit). */
export function progressPayload(change: OperationChange): string {
  return `${change.tenantId}:${change.operationId}`;
}

function parsePayload(payload: string | undefined): OperationChange | null {
  const match = /^([0-9a-f-]{36}):([0-9a-f-]{36})$/.exec(payload ?? "");
  return match ? { tenantId: match[1], operationId: match[2] } : null;
}

export interface OperationEventsOptions {
  /** Interval and timeout of the LISTEN connection's liveness check (LISTEN_CHECK_MS). */
  checkMs: number;
  keepAliveMs?: number;
}

export class OperationEvents {
  #byOperation = new Map<string, Set<Listener>>();
  #byTenant = new Map<string, Set<Listener>>();
  /** The process's LISTEN connection; other channels may be added to it with `on()`. */
  readonly listen: ListenConnection;

  constructor(url: string, options: OperationEventsOptions) {
    this.listen = new ListenConnection(url, {
      applicationName: "bulk-ops listen",
      checkMs: options.checkMs,
      keepAliveMs: options.keepAliveMs,
      onError: (message) => log.warn("events", message),
    });
    this.listen.on(PROGRESS_CHANNEL, (payload) => {
      const change = parsePayload(payload);
      if (change) this.#emit(change);
    });
    this.listen.onReconnect(() => this.#resyncAll());
  }

  start(): Promise<void> {
    return this.listen.start();
  }

  /** Every subscriber re-reads its state (called after a reconnect). */
  #resyncAll(): void {
    for (const [operationId, listeners] of this.#byOperation) {
      listeners.forEach((l) => l({ tenantId: "", operationId }));
    }
    for (const [tenantId, listeners] of this.#byTenant) {
      listeners.forEach((l) => l({ tenantId, operationId: "" }));
    }
  }

  #emit(change: OperationChange): void {
    this.#byOperation.get(change.operationId)?.forEach((listener) => listener(change));
    this.#byTenant.get(change.tenantId)?.forEach((listener) => listener(change));
  }

  /** Calls `listener` on every change of the operation; returns the unsubscribe function. */
  onOperation(operationId: string, listener: Listener): () => void {
    return subscribe(this.#byOperation, operationId, listener);
  }

  /** Calls `listener` on every change of any operation of the tenant. */
  onTenant(tenantId: string, listener: Listener): () => void {
    return subscribe(this.#byTenant, tenantId, listener);
  }

  stop(): Promise<void> {
    return this.listen.stop();
  }
}

function subscribe(map: Map<string, Set<Listener>>, key: string, listener: Listener): () => void {
  const listeners = map.get(key) ?? new Set();
  listeners.add(listener);
  map.set(key, listeners);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) map.delete(key);
  };
}
