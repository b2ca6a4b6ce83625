/** A claimed job: one chunk (a position range and its target keys) of one operation. */
import type { Selectable } from "kysely";
import type { BulkJobsTable } from "../../db/tables.ts";

export type Job = Pick<
  Selectable<BulkJobsTable>,
  | "id"
  | "operation_id"
  | "chunk_index"
  | "first_position"
  | "last_position"
  | "attempts"
  | "locked_by"
  /** Why the previous attempt ended, if it did not commit. */
  | "last_error"
  /** W3C traceparent of the request that created the job: the chunk's span joins its trace. */
  | "trace_context"
  /** The chunk's targets and planned images: the claim hands them over, so the chunk reads no item row. */
  | "target_ids"
  | "planned_before"
  | "planned_after"
>;

/** The columns a claim returns: a Job. */
export const JOB_COLUMNS = [
  "id",
  "operation_id",
  "chunk_index",
  "first_position",
  "last_position",
  "attempts",
  "locked_by",
  "last_error",
  "trace_context",
  "target_ids",
  "planned_before",
  "planned_after",
] as const satisfies readonly (keyof Job)[];

/** Raised inside a chunk transaction when the job's lease was taken away (rescued). */
export class LeaseLostError extends Error {
  constructor(jobId: string) {
    super(`lease of job ${jobId} was lost; the chunk was rolled back`);
    this.name = "LeaseLostError";
  }
}
