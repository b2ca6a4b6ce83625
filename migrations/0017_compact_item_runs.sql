-- The compact ledger (src/bulk/queue/complete-runs.ts): an action whose SUCCEEDED items carry no
-- code, message or image (an export: BulkAction.compactLedger) has them stored as RUNS, one row per
-- stretch of consecutive positions of one chunk, holding their target keys as one int8[] aligned
-- with the positions (as bulk_jobs.target_ids holds a chunk's PENDING items). Its other items
-- (FAILED NOT_FOUND) are ordinary bulk_operation_items rows, so every position of the operation is
-- in exactly one of bulk_operation_items, bulk_item_runs and bulk_jobs. A 1,000,000-ticket export
-- writes ~50 runs instead of 1,000,000 item rows and their index entries (docs/performance.md,
-- "Session 4: export").
CREATE TABLE bulk_item_runs (
  operation_id uuid NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE,
  first_position integer NOT NULL,
  last_position integer NOT NULL,
  -- target_ids[k] is at position first_position + k - 1; every one SUCCEEDED.
  target_ids int8[] NOT NULL,
  attempts integer NOT NULL,
  processed_at timestamptz NOT NULL,
  PRIMARY KEY (operation_id, first_position),
  CONSTRAINT bulk_item_runs_targets_match_range CHECK (cardinality(target_ids) = last_position - first_position + 1)
);
-- Written once and read back whole or by a position range: uncompressed, as the jobs' keys
-- (migrations/0012: pglz over int8 keys cost more than it saved).
ALTER TABLE bulk_item_runs ALTER COLUMN target_ids SET STORAGE EXTERNAL;

-- The whole ledger as one relation (migrations/0012), now with the runs' items.
CREATE OR REPLACE VIEW bulk_operation_ledger AS
  SELECT operation_id, position, target_id, outcome, error_code, error_message, before, after, attempts,
    processed_at
  FROM bulk_operation_items
  UNION ALL
  SELECT j.operation_id, j.first_position + (t.ord - 1)::int, t.target_id, 'PENDING', NULL, NULL,
    j.planned_before -> (t.ord - 1)::int, j.planned_after -> (t.ord - 1)::int, 0, NULL
  FROM bulk_jobs AS j, unnest(j.target_ids) WITH ORDINALITY AS t(target_id, ord)
  UNION ALL
  SELECT r.operation_id, r.first_position + (t.ord - 1)::int, t.target_id, 'SUCCEEDED', NULL, NULL, NULL, NULL,
    r.attempts, r.processed_at
  FROM bulk_item_runs AS r, unnest(r.target_ids) WITH ORDINALITY AS t(target_id, ord);
