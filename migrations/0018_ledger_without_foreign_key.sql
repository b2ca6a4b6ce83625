-- The ledger's foreign key to its operation goes (issue 18, session 4; docs/performance.md "Session 4: the
-- engine's chunk"). It was checked once per inserted row: 2,000 calls of its trigger per chunk, each an
-- index probe of bulk_operations and a FOR KEY SHARE of the operation's row (the row both workers' counters
-- UPDATE), 14-15 ms of a 2,000-item chunk's statement measured with EXPLAIN ANALYZE, where the ledger
-- INSERT without it costs what the graphile-worker peer's does. It guarded nothing a writer can break: every
-- ledger row is INSERTed by the statement that DELETEs the job holding that item (queue/complete.ts,
-- queue/cancel-jobs.ts), and the job's own foreign key (bulk_jobs.operation_id, kept) says the operation
-- exists; the only deleter of operations, retention (src/bulk/retention.ts), deletes an operation's items
-- before its row, so the ON DELETE CASCADE found nothing to delete.
ALTER TABLE bulk_operation_items DROP CONSTRAINT bulk_operation_items_operation_id_fkey;
