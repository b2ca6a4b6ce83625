-- Observability: worker registration, trace context on jobs, and the index the /metrics
-- queue gauges read.

-- One row per worker thread, upserted by its process's pool at every heartbeat. A row whose
-- expires_at has passed belongs to a worker that died without deregistering: readers ignore
-- it and the next heartbeat of any pool deletes it. The expiry is written by the heartbeating
-- process (now() + WORKER_STALE_MS), so readers need not share its configuration.
CREATE TABLE bulk_workers (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  -- "api" (WORKERS=N inside the API process) or "worker" (`deno task worker`).
  process_kind text NOT NULL CHECK (process_kind IN ('api', 'worker')),
  started_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  chunks_done bigint NOT NULL DEFAULT 0 CHECK (chunks_done >= 0)
);
CREATE INDEX bulk_workers_expires_idx ON bulk_workers (expires_at);

-- W3C traceparent of the request that created the job (null when tracing is off), so the
-- chunk's span joins the request's trace.
ALTER TABLE bulk_jobs ADD COLUMN trace_context text CHECK (length(trace_context) <= 512);

-- Scrape-time queue gauges: ready (run_at <= now()), waiting for a retry backoff or admission
-- (run_at > now()) and the oldest ready job (min(run_at), the first entry) all read this index
-- instead of scanning the queue. Running jobs are counted on bulk_jobs_lease_idx.
CREATE INDEX bulk_jobs_unlocked_run_at_idx ON bulk_jobs (run_at) WHERE locked_by IS NULL;
