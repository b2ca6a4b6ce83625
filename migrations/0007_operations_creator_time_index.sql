-- The per-user start rate (src/bulk/start-caps.ts) counts a user's operations created in the last
-- minute inside every start transaction. bulk_operations_creator_idx (created_by, status) would read
-- every operation the user ever started; this reads only the last minute's.
CREATE INDEX bulk_operations_creator_time_idx ON bulk_operations (created_by, created_at);
