/** A claimed job: one chunk (a position range) of one operation. */
export interface Job {
  id: string;
  operation_id: string;
  chunk_index: number;
  first_position: number;
  last_position: number;
  attempts: number;
  locked_by: string | null;
  /** Why the previous attempt ended, if it did not commit. */
  last_error: string | null;
  /** W3C traceparent of the request that created the job: the chunk's span joins its trace. */
  trace_context: string | null;
}

/** Raised inside a chunk transaction when the job's lease was taken away (rescued). */
export class LeaseLostError extends Error {
  constructor(jobId: string) {
    super(`lease of job ${jobId} was lost; the chunk was rolled back`);
    this.name = "LeaseLostError";
  }
}
