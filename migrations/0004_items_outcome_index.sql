-- The partial index of items by outcome covered PENDING items too (outcome <> 'SUCCEEDED'),
-- so every ledger row was indexed twice at start and its entry replaced when processed.
-- Listing and retry only need the settled, non-successful outcomes; PENDING ones are read
-- by chunk through the primary key.
DROP INDEX bulk_operation_items_outcome_idx;
CREATE INDEX bulk_operation_items_outcome_idx ON bulk_operation_items (operation_id, outcome, position)
  WHERE outcome IN ('FAILED', 'SKIPPED', 'CANCELLED');
