/**
 * Progress arithmetic shared by the terminal client and the dashboard: rate, ETA and the
 * formatting of counts and durations. Pure functions; no Deno or DOM APIs.
 */
import type { OperationFieldsFragment } from "./generated/graphql.ts";
import { isOneOf } from "../guards.ts";

export type Operation = OperationFieldsFragment;

export const TERMINAL_STATUSES = ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"] as const;

export const isTerminal = (status: string) => isOneOf(TERMINAL_STATUSES, status);

const number = new Intl.NumberFormat("en-US");
/** 12,345 */
export const count = (n: number) => number.format(n);

/** 3.2s under ten seconds, then 4m 05s, then 1h 02m. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** Items per second, e.g. "12,345/s" or "4.5/s"; "-/s" when unknown. */
export function rate(itemsPerSecond: number | null): string {
  if (itemsPerSecond === null || !Number.isFinite(itemsPerSecond)) return "-/s";
  return itemsPerSecond >= 100 ? `${count(Math.round(itemsPerSecond))}/s` : `${itemsPerSecond.toFixed(1)}/s`;
}

/**
 * Measures the rate seen by this client (items between events / time between them) for when
 * the server has no throughput yet; the server's own figure wins when present.
 */
export class RateMeter {
  #first?: { at: number; processed: number };
  #last?: { at: number; processed: number };

  observe(processed: number, at = Date.now()): void {
    if (!this.#first || processed < this.#first.processed) this.#first = { at, processed };
    this.#last = { at, processed };
  }

  /** Items per second since the first observation; null until two are 200 ms apart. */
  get perSecond(): number | null {
    if (!this.#first || !this.#last || this.#last.at - this.#first.at < 200) return null;
    return ((this.#last.processed - this.#first.processed) * 1000) / (this.#last.at - this.#first.at);
  }
}

/** Milliseconds left: the server's estimate, else pending / rate; null when unknown or finished. */
export function eta(op: Operation, itemsPerSecond: number | null, now = Date.now()): number | null {
  if (isTerminal(op.status)) return null;
  if (op.estimatedCompletionAt) return Math.max(0, Date.parse(op.estimatedCompletionAt) - now);
  if (!itemsPerSecond || itemsPerSecond <= 0) return null;
  return (op.counts.pending / itemsPerSecond) * 1000;
}

const STAGE: Record<string, number> = { SCHEDULED: 0, QUEUED: 0, RUNNING: 1, CANCELLING: 2 };

/**
 * Whether `next` is at least as recent as `current` (two feeds deliver the same operation:
 * keep the later state). Terminal beats everything; then the stage; then items processed.
 */
export function isNewer(next: Operation, current: Operation | undefined): boolean {
  if (!current) return true;
  const stage = (op: Operation) => (isTerminal(op.status) ? 3 : STAGE[op.status] ?? 0);
  if (stage(next) !== stage(current)) return stage(next) > stage(current);
  return next.counts.processed >= current.counts.processed;
}
