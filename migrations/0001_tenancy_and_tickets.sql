-- Tenants, users, API tokens, tickets and comments: the reference domain.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role text NOT NULL CHECK (role IN ('ADMIN', 'AGENT', 'VIEWER')),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Tokens are minted per email (deno task token -- --user <email>), so emails are unique.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_tenant_idx ON users (tenant_id, id);

-- Only the SHA-256 of a token is stored; the token itself is shown once, when minted.
CREATE TABLE api_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id),
  token_hash bytea NOT NULL,
  label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (token_hash);

CREATE TABLE tickets (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  body text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
  status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'PENDING', 'RESOLVED', 'CLOSED')),
  priority text NOT NULL DEFAULT 'NORMAL' CHECK (priority IN ('LOW', 'NORMAL', 'HIGH', 'URGENT')),
  category text NOT NULL DEFAULT 'GENERAL'
    CHECK (category IN ('GENERAL', 'BILLING', 'TECHNICAL', 'ACCOUNT', 'FEATURE_REQUEST')),
  assignee_id uuid REFERENCES users (id),
  created_by uuid REFERENCES users (id),
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
-- Keyset pagination is newest first on (tenant_id, id DESC); each filter has an index that
-- leads with the tenant and ends with id, so "filter + ORDER BY id DESC LIMIT n" is one range scan.
CREATE INDEX tickets_tenant_id_idx ON tickets (tenant_id, id);
CREATE INDEX tickets_status_idx ON tickets (tenant_id, status, id);
CREATE INDEX tickets_priority_idx ON tickets (tenant_id, priority, id);
CREATE INDEX tickets_category_idx ON tickets (tenant_id, category, id);
CREATE INDEX tickets_assignee_idx ON tickets (tenant_id, assignee_id, id);
CREATE INDEX tickets_created_idx ON tickets (tenant_id, created_at, id);
CREATE INDEX tickets_title_trgm_idx ON tickets USING gin (title gin_trgm_ops);

CREATE TABLE ticket_comments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  ticket_id bigint NOT NULL REFERENCES tickets (id),
  author_id uuid NOT NULL REFERENCES users (id),
  body text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
  -- Set when a bulk operation added the comment; the unique index below makes
  -- "exactly one comment per ticket per operation" a database guarantee.
  bulk_operation_id uuid,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_comments_ticket_idx ON ticket_comments (ticket_id, id);
CREATE UNIQUE INDEX ticket_comments_bulk_key ON ticket_comments (bulk_operation_id, ticket_id)
  WHERE bulk_operation_id IS NOT NULL;
