-- Retention of the audit trail (src/audit/retention.ts): events older than BULK_RETENTION_DAYS
-- are deleted oldest first, a batch at a time. Without this index each batch, and every run that
-- finds nothing to delete, would scan the whole table (created_at is in no other index).
CREATE INDEX audit_events_created_idx ON audit_events (created_at);
