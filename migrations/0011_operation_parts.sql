-- Output parts of EXPORT operations (src/bulk/action.ts BulkActionKind): one row per chunk,
-- written in the chunk's transaction, so a part exists exactly when its chunk's items are
-- settled; read back in chunk order through the primary key. Deleted with the operation.
-- (IMPORT needs no schema: its records get their target keys at start, so the ledger's
-- int8 target_id stays NOT NULL for every kind.)
CREATE TABLE bulk_operation_parts (
  operation_id uuid NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE,
  chunk_index integer NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operation_id, chunk_index)
);
