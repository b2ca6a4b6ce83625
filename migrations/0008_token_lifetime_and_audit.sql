-- Token lifetime and scope, and an audit trail of who did what from where.
--
-- expires_at: NULL never expires (the CLI's default stays as before); a lookup refuses a token
-- at or past it, and open sockets/streams of an expired token are closed by the token sweep.
-- scope: READ_ONLY tokens may query and subscribe but run no mutation.
-- last_used_at: written at most once a minute per token (the lookup sees the value and only
-- then updates), so busy tokens do not cost a write per request.
ALTER TABLE api_tokens
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN scope text NOT NULL DEFAULT 'FULL' CHECK (scope IN ('FULL', 'READ_ONLY')),
  ADD COLUMN last_used_at timestamptz;
-- "Every token of this user" (revoking a user's tokens) is a range scan.
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- One row per security-relevant act: token minted or revoked, a single-ticket mutation.
-- actor_id is NULL for acts of the operator's CLI (deno task token), which has no user.
CREATE TABLE audit_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  actor_id uuid REFERENCES users (id),
  action text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
  subject text NOT NULL DEFAULT '',
  data jsonb NOT NULL DEFAULT '{}',
  ip text,
  user_agent text CHECK (length(user_agent) <= 500),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- The ADMIN connection pages a tenant's events newest first: (tenant_id, id DESC) keyset.
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, id);

-- Where a bulk operation event came from (the request's IP and User-Agent; NULL for the engine).
ALTER TABLE bulk_operation_events
  ADD COLUMN ip text,
  ADD COLUMN user_agent text CHECK (length(user_agent) <= 500);
