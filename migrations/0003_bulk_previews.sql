-- Previews (dry runs): the frozen target list a previewToken stands for, so that
-- startBulkOperation(previewToken) runs exactly the previewed snapshot.
CREATE TABLE bulk_previews (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  created_by uuid NOT NULL REFERENCES users (id),
  -- Hash of the action and the targets as given; a start with another input is refused.
  input_hash text NOT NULL,
  target_ids bigint[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX bulk_previews_expiry_idx ON bulk_previews (expires_at);
