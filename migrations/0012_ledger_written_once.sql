-- Engine v2: each item's ledger row is written ONCE, by the transaction that settles it.
-- Until now a start INSERTed one PENDING row per target (1,000,000 rows: 8.7 s of a 1M start)
-- and every chunk UPDATEd those rows again with their outcome and images: two writes, two
-- index entries and a dead tuple per item. Now a start stores each chunk's targets compactly
-- in its job (one row per chunk: the keys as one int8[], the planned images as two jsonb
-- arrays aligned with it), built by one INSERT ... SELECT with array_agg grouped per chunk,
-- and the chunk's transaction INSERTs its items' rows with their outcomes. An item is
-- PENDING exactly while its job exists; bulk_operation_ledger shows both halves as one.

ALTER TABLE bulk_jobs
  -- The chunk's target keys in position order: target_ids[k] is at position first_position + k - 1.
  ADD COLUMN target_ids int8[],
  -- Planned images (rollback: the parent's swapped ones; IMPORT: the records as afters), each a
  -- jsonb array aligned with target_ids; NULL when the chunk plans none.
  ADD COLUMN planned_before jsonb,
  ADD COLUMN planned_after jsonb;

-- Jobs in flight while migrating: their PENDING rows move into the job.
UPDATE bulk_jobs AS j SET target_ids = p.ids, planned_before = p.befores, planned_after = p.afters
FROM (
  SELECT j2.id, array_agg(i.target_id ORDER BY i.position) AS ids,
    CASE WHEN bool_or(i.before IS NOT NULL) THEN jsonb_agg(i.before ORDER BY i.position) END AS befores,
    CASE WHEN bool_or(i.after IS NOT NULL) THEN jsonb_agg(i.after ORDER BY i.position) END AS afters
  FROM bulk_jobs AS j2
  JOIN bulk_operation_items AS i ON i.operation_id = j2.operation_id
    AND i.position BETWEEN j2.first_position AND j2.last_position
  GROUP BY j2.id) AS p
WHERE p.id = j.id;
DELETE FROM bulk_operation_items WHERE outcome = 'PENDING';
-- Stored out of line WITHOUT compression: a job lives only until its chunk commits, and pglz-compressing
-- the keys was most of a large start: INSERTing 500 jobs of 2,000 keys (1,000,000 targets) took
-- 5.2-6.1 s compressed and 1.6-1.7 s uncompressed (same machine, loaded; docs/performance.md).
ALTER TABLE bulk_jobs ALTER COLUMN target_ids SET STORAGE EXTERNAL,
  ALTER COLUMN planned_before SET STORAGE EXTERNAL, ALTER COLUMN planned_after SET STORAGE EXTERNAL;
ALTER TABLE bulk_jobs ALTER COLUMN target_ids SET NOT NULL,
  ADD CONSTRAINT bulk_jobs_targets_match_range
    CHECK (cardinality(target_ids) = last_position - first_position + 1);

-- Only settled outcomes are stored; PENDING is the absence of a row while the job exists.
ALTER TABLE bulk_operation_items ALTER COLUMN outcome DROP DEFAULT,
  DROP CONSTRAINT bulk_operation_items_outcome_check,
  ADD CONSTRAINT bulk_operation_items_outcome_check
    CHECK (outcome IN ('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'));

-- The whole ledger of an operation, PENDING items included, as it was one table: for ad-hoc
-- reads (operators, tests). The API reads both halves with range-bounded queries of their own
-- (src/bulk/history.ts listItems), which this view's unnest of every job could not be.
CREATE VIEW bulk_operation_ledger AS
  SELECT operation_id, position, target_id, outcome, error_code, error_message, before, after, attempts,
    processed_at
  FROM bulk_operation_items
  UNION ALL
  SELECT j.operation_id, j.first_position + (t.ord - 1)::int, t.target_id, 'PENDING', NULL, NULL,
    j.planned_before -> (t.ord - 1)::int, j.planned_after -> (t.ord - 1)::int, 0, NULL
  FROM bulk_jobs AS j, unnest(j.target_ids) WITH ORDINALITY AS t(target_id, ord);
