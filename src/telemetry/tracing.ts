/**
 * OpenTelemetry spans through Deno's built-in support (OTEL_DENO=true and the standard
 * OTEL_* variables; Deno registers its providers with npm:@opentelemetry/api, so no SDK is
 * bundled). With tracing off every call here is a no-op: the API returns non-recording spans
 * and an empty carrier.
 *
 * A request and the work it causes share one trace: startBulkOperation stores the active
 * W3C traceparent on every job row it inserts (bulk_jobs.trace_context), and the worker that
 * claims a job, in whatever thread or process, starts the chunk's span as its child.
 */
import { context, propagation, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ChunkReport } from "../bulk/run-chunk.ts";
import type { Job } from "../bulk/queue/job.ts";

export const tracer = trace.getTracer("bulk-ops");

/** The active span's W3C traceparent, or null when tracing is off (nothing to carry). */
export function currentTraceparent(): string | null {
  const carrier: { traceparent?: string } = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** Ends `span` after `work`, recording a thrown error on it (and rethrowing it). */
export async function endAfter<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * A graphql-ws query or mutation inside its own `graphql.request` span, a root: the socket outlives any
 * HTTP span (Deno's ends at the upgrade). So a startBulkOperation sent over the socket starts the trace its
 * chunks join, as one sent over HTTP does. Subscriptions get no span: they last as long as the client wants.
 */
export function inWsOperationSpan<T>(operationName: string | null | undefined, work: () => Promise<T>): Promise<T> {
  const attributes = { "graphql.operation.name": operationName ?? "", "graphql.transport": "ws" };
  return tracer.startActiveSpan("graphql.request", { root: true, attributes }, (span) => endAfter(span, work));
}

/** Runs a chunk inside its span: a child of the creating request's span when the job carries one. */
export function inChunkSpan(job: Job, work: () => Promise<ChunkReport>): Promise<ChunkReport> {
  const parent = job.trace_context
    ? propagation.extract(context.active(), { traceparent: job.trace_context })
    : context.active();
  const attributes = {
    "bulk.operation.id": job.operation_id,
    "bulk.chunk.index": job.chunk_index,
    "bulk.chunk.attempt": job.attempts,
  };
  return tracer.startActiveSpan("bulk.chunk", { attributes }, parent, (span) =>
    endAfter(span, async () => {
      const report = await work();
      const counts: Record<string, number> = { succeeded: 0, failed: 0, skipped: 0 };
      for (const { outcome, count } of report.outcomes) counts[outcome.toLowerCase()] += count;
      span.setAttributes({
        "bulk.chunk.items": report.items,
        "bulk.chunk.succeeded": counts.succeeded,
        "bulk.chunk.failed": counts.failed,
        "bulk.chunk.skipped": counts.skipped,
        "bulk.operation.status": report.status,
      });
      return report;
    }));
}
