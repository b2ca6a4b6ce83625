-- Bulk export (src/exports/, src/tickets/actions/export.ts). The file of an EXPORT operation
-- is its parts (bulk_operation_parts, 0011); this records when they were removed and why
-- (EXPIRED by EXPORT_RETENTION_DAYS, or DELETED by deleteBulkExport), so a download after
-- that is told which, while the operation and its ledger stay. The row is written in the
-- same transaction as the parts' deletion.
CREATE TABLE bulk_export_removals (
  operation_id uuid PRIMARY KEY REFERENCES bulk_operations (id) ON DELETE CASCADE,
  reason text NOT NULL CHECK (reason IN ('EXPIRED', 'DELETED')),
  removed_at timestamptz NOT NULL DEFAULT now(),
  removed_by uuid REFERENCES users (id)
);

-- The retention sweep's query: finished exports older than the cutoff, oldest first. Only
-- EXPORT operations are in it, so the sweep never walks the other operations' history.
CREATE INDEX bulk_operations_export_finished_idx ON bulk_operations (finished_at)
  WHERE action_type = 'EXPORT' AND finished_at IS NOT NULL;
