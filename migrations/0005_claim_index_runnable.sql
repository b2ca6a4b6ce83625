-- Jobs of operations that wait (SCHEDULED or QUEUED) have run_at = 'infinity'. They were
-- in the claim index, so every claim scanned past them; leave them out (the claim query
-- says run_at < 'infinity' to match this predicate).
DROP INDEX bulk_jobs_claim_idx;
CREATE INDEX bulk_jobs_claim_idx ON bulk_jobs (chunk_index, id)
  WHERE locked_by IS NULL AND run_at < 'infinity'::timestamptz;
