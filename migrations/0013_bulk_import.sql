-- Bulk import (src/imports/, src/tickets/actions/import.ts).
-- external_id: the client's own key of a ticket, unique per tenant, so an UPSERT import finds
-- the ticket it updates, and a row imported twice (a re-run, a crashed chunk re-run) is a
-- database fact, not a check.
ALTER TABLE tickets ADD COLUMN external_id text CHECK (length(external_id) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX tickets_external_id_key ON tickets (tenant_id, external_id) WHERE external_id IS NOT NULL;

-- Staged uploads: createUpload makes the row, PUT /uploads/{id} streams the file into
-- bulk_upload_parts (COPY FROM STDIN, one row per received block), startBulkImport reads the
-- parts back in order. Expired uploads are deleted on the next createUpload (expiry index).
CREATE TABLE bulk_uploads (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  created_by uuid NOT NULL REFERENCES users (id),
  bytes bigint,
  -- SHA-256 of the received file: what stands for its rows in the start's input hash.
  sha256 text,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX bulk_uploads_expiry_idx ON bulk_uploads (expires_at);
-- createUpload counts the creator's live uploads (at most UPLOADS_PER_USER, src/imports/uploads.ts).
CREATE INDEX bulk_uploads_creator_idx ON bulk_uploads (created_by, expires_at);

CREATE TABLE bulk_upload_parts (
  upload_id uuid NOT NULL REFERENCES bulk_uploads (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (upload_id, seq)
);
