/**
 * Calculated-cost leaky buckets, one per API token, as Shopify's Admin API throttles: each bucket holds up
 * to `size` points and refills at `restoreRate` points per second. A request needs its requested cost
 * (query-cost.ts, at least 1) available before it runs; that much is taken, and what it did not use
 * (requested - actual) is given back when it ends.
 *
 * Per process, in memory, not shared through PostgreSQL. The bucket protects what one flood exhausts: this
 * process's event loop and its connection pool. Sharing it would cost every request a write to one hot row
 * per token (a round trip and a row lock on the request path) to protect resources that are per process
 * anyway. With N API processes behind a balancer a token can spend up to N buckets; the per-user start
 * caps (start-caps.ts), which guard the shared database, ARE in PostgreSQL. Full buckets are dropped
 * (a full bucket and no bucket are the same), so memory holds only the tokens active in the last
 * `size / restoreRate` seconds.
 */

export interface ThrottleStatus {
  maximumAvailable: number;
  currentlyAvailable: number;
  restoreRate: number;
}

export type Take =
  | { ok: true; status: ThrottleStatus }
  | { ok: false; status: ThrottleStatus; retryAfterSeconds: number };

interface Level {
  available: number;
  /** When `available` was computed (ms, the injected clock). */
  at: number;
}

/** Above this many buckets, full ones are swept out at the next take. */
const SWEEP_ABOVE = 10_000;

export class CostBuckets {
  readonly #levels = new Map<string, Level>();

  constructor(
    readonly size: number,
    readonly restoreRate: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  #level(key: string): Level {
    const now = this.now();
    const level = this.#levels.get(key);
    if (!level) return { available: this.size, at: now };
    const available = Math.min(this.size, level.available + ((now - level.at) / 1000) * this.restoreRate);
    return { available, at: now };
  }

  #status(level: Level): ThrottleStatus {
    return {
      maximumAvailable: this.size,
      currentlyAvailable: Math.floor(level.available),
      restoreRate: this.restoreRate,
    };
  }

  /** Takes `cost` points if available; otherwise takes nothing and says when they will be. */
  take(key: string, cost: number): Take {
    if (this.#levels.size > SWEEP_ABOVE) this.#sweep();
    const level = this.#level(key);
    if (level.available < cost) {
      this.#levels.set(key, level);
      const retryAfterSeconds = Math.max(1, Math.ceil((cost - level.available) / this.restoreRate));
      return { ok: false, status: this.#status(level), retryAfterSeconds };
    }
    level.available -= cost;
    this.#levels.set(key, level);
    return { ok: true, status: this.#status(level) };
  }

  /** Gives back points taken but not used; returns the bucket's status after. */
  refund(key: string, points: number): ThrottleStatus {
    const level = this.#level(key);
    level.available = Math.min(this.size, level.available + Math.max(0, points));
    this.#levels.set(key, level);
    return this.#status(level);
  }

  #sweep(): void {
    for (const key of [...this.#levels.keys()]) {
      if (this.#level(key).available >= this.size) this.#levels.delete(key);
    }
  }
}
