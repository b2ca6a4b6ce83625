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
 * `size / restoreRate` seconds plus the time to repay a debt (see charge).
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

/** Above this many buckets, full ones are swept out, at most once per SWEEP_EVERY_MS. */
const SWEEP_ABOVE = 10_000;
/**
 * A sweep is O(buckets). Run at every take, 10,001 tokens active at once (none full yet) made every request
 * walk them all; once a second it is a bounded share of the event loop whatever the request rate.
 */
const SWEEP_EVERY_MS = 1000;

export class CostBuckets {
  readonly #levels = new Map<string, Level>();
  #sweptAt = -Infinity;

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

  /** Whether `points` are available in `key`'s bucket (and if not, when they will be), taking nothing. */
  check(key: string, points: number): Take {
    return this.#verdict(this.#level(key), points);
  }

  /** Takes `cost` points if available; otherwise takes nothing and says when they will be. */
  take(key: string, cost: number): Take {
    this.#maybeSweep();
    const level = this.#level(key);
    const verdict = this.#verdict(level, cost);
    if (verdict.ok) level.available -= cost;
    this.#levels.set(key, level);
    return verdict.ok ? { ok: true, status: this.#status(level) } : verdict;
  }

  /**
   * Takes `points` whether or not they are available: the charge for work already done (a refused document,
   * cost-throttle.ts), which the caller cannot decline. While in debt, `take` refuses. Not clamped, so a
   * `refund` of the same points undoes it exactly; the throttle bounds the debt (it lexes nothing for a caller
   * below 1 point, so the debt is at most one refused document's charge).
   */
  charge(key: string, points: number): ThrottleStatus {
    this.#maybeSweep();
    const level = this.#level(key);
    level.available -= points;
    this.#levels.set(key, level);
    return this.#status(level);
  }

  /** Gives back points taken but not used; returns the bucket's status after. */
  refund(key: string, points: number): ThrottleStatus {
    const level = this.#level(key);
    level.available = Math.min(this.size, level.available + Math.max(0, points));
    this.#levels.set(key, level);
    return this.#status(level);
  }

  /** How many buckets are held (full ones linger until a sweep). */
  get held(): number {
    return this.#levels.size;
  }

  #verdict(level: Level, points: number): Take {
    if (level.available >= points) return { ok: true, status: this.#status(level) };
    const retryAfterSeconds = Math.max(1, Math.ceil((points - level.available) / this.restoreRate));
    return { ok: false, status: this.#status(level), retryAfterSeconds };
  }

  #maybeSweep(): void {
    if (this.#levels.size <= SWEEP_ABOVE) return;
    const now = this.now();
    if (now - this.#sweptAt < SWEEP_EVERY_MS) return;
    this.#sweptAt = now;
    for (const key of [...this.#levels.keys()]) {
      if (this.#level(key).available >= this.size) this.#levels.delete(key);
    }
  }
}
