-- Retention (src/bulk/retention.ts): finished operations older than BULK_RETENTION_DAYS are
-- deleted, their items and events first in small batches, the operation row last.

-- A comment added by an operation keeps that operation's id after the operation is gone. The
-- foreign key's ON DELETE SET NULL would have cleared it and so dropped the comment out of the
-- unique key (bulk_operation_id, ticket_id) that makes "one comment per ticket per operation" a
-- database fact: the id stays as a plain value (a uuid is never reused, so it can never point at
-- another operation).
ALTER TABLE ticket_comments DROP CONSTRAINT ticket_comments_bulk_operation_fk;

-- Set when retention starts deleting an operation's ledger: from then on it cannot be retried
-- or rolled back (lineage.ts treats it as gone), so no new child reads a half-deleted ledger.
ALTER TABLE bulk_operations ADD COLUMN purge_started_at timestamptz;

-- Retention's scan: finished operations, oldest end first.
CREATE INDEX bulk_operations_finished_idx ON bulk_operations (finished_at) WHERE finished_at IS NOT NULL;
