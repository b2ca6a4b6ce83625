/**
 * The engine's counters, fed from the process that did the work: operation starts and cancels
 * from the API's transactions, chunks from the reports worker threads post to their pool
 * (the pool runs in the process's main isolate, where the registry lives). Each is called
 * after the transaction committed, so a rolled-back chunk or start counts nothing.
 */
import type { OperationRow } from "../bulk/operation.ts";
import type { ChunkReport } from "../bulk/run-chunk.ts";
import { chunkDuration, itemsProcessed, leasesRescued, operationsFinished, operationsStarted } from "./registry.ts";

/** Item code label for items without one (every SUCCEEDED item, CANCELLED items). */
const NO_CODE = "none";

export function countStarted(operation: OperationRow): void {
  operationsStarted.inc({ kind: operation.kind, action: operation.action_type, status: operation.status });
}

/** A cancel that ended the operation itself (no chunk in flight): its finish and cancelled items. */
export function countEndedByCancel(operation: OperationRow): void {
  operationsFinished.inc({ kind: operation.kind, action: operation.action_type, status: operation.status });
  if (operation.cancelled > 0) {
    itemsProcessed.inc({ action: operation.action_type, outcome: "CANCELLED", code: NO_CODE }, operation.cancelled);
  }
}

export function countChunk(report: ChunkReport & { ms: number }): void {
  const action = report.actionType;
  chunkDuration.observe({ action }, report.ms / 1000);
  for (const { outcome, code, count } of report.outcomes) {
    itemsProcessed.inc({ action, outcome, code: code ?? NO_CODE }, count);
  }
  if (report.cancelledAtEnd > 0) {
    itemsProcessed.inc({ action, outcome: "CANCELLED", code: NO_CODE }, report.cancelledAtEnd);
  }
  if (report.finished) operationsFinished.inc({ kind: report.kind, action, status: report.status });
}

export function countRescued(jobs: number): void {
  if (jobs > 0) leasesRescued.inc(jobs);
}
