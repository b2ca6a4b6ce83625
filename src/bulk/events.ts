/**
 * Operation state changes, delivered by PostgreSQL LISTEN/NOTIFY on ONE connection per
 * process and fanned out in memory to every subscriber. Workers (in this process or any
 * other) send one NOTIFY per committed chunk, so progress made anywhere arrives here.
 * After a lost connection it reconnects with backoff and tells every subscriber to
 * re-read (a NOTIFY sent while disconnected is gone, the database state is not).
 */
import pg from "pg";

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

export class OperationEvents {
  #byOperation = new Map<string, Set<Listener>>();
  #byTenant = new Map<string, Set<Listener>>();
  #client: pg.Client | null = null;
  #stopped = false;
  #reconnectDelayMs = 100;

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: "bulk-ops listen" });
    client.on("notification", (message) => {
      const change = parsePayload(message.payload);
      if (change) this.#emit(change);
    });
    client.on("error", () => this.#lost(client));
    client.on("end", () => this.#lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${PROGRESS_CHANNEL}`);
    } catch (error) {
      client.end().catch(() => {});
      throw error;
    }
    this.#client = client;
    this.#reconnectDelayMs = 100;
  }

  /** The live connection dropped: forget it and reconnect. */
  #lost(client: pg.Client): void {
    if (this.#stopped || this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => {});
    this.#scheduleReconnect();
  }

  /** Retries with backoff (100 ms doubling to 5 s) until a connection is up again. */
  #scheduleReconnect(): void {
    const delay = this.#reconnectDelayMs;
    this.#reconnectDelayMs = Math.min(delay * 2, 5000);
    setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.start();
        this.#resyncAll();
      } catch {
        this.#scheduleReconnect();
      }
    }, delay);
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

  async stop(): Promise<void> {
    this.#stopped = true;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
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
