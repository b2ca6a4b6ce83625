-- The bulk engine: operations, their item ledger, the job queue and the audit trail.

CREATE TABLE bulk_operations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  created_by uuid NOT NULL REFERENCES users (id),
  kind text NOT NULL DEFAULT 'STANDARD' CHECK (kind IN ('STANDARD', 'RETRY', 'ROLLBACK')),
  parent_id uuid REFERENCES bulk_operations (id),
  action_type text NOT NULL,
  action_params jsonb NOT NULL DEFAULT '{}',
  -- How the targets were given: {"kind":"ids","count":n} or {"kind":"filter","filter":{...}}.
  target_summary jsonb NOT NULL,
  description text CHECK (length(description) <= 500),
  idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  input_hash text,
  -- SCHEDULED -> QUEUED -> RUNNING -> (CANCELLING) -> COMPLETED | COMPLETED_WITH_ERRORS | FAILED | CANCELLED
  status text NOT NULL CHECK (status IN ('SCHEDULED', 'QUEUED', 'RUNNING', 'CANCELLING',
    'COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED')),
  total integer NOT NULL CHECK (total >= 0),
  succeeded integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  skipped integer NOT NULL DEFAULT 0,
  cancelled integer NOT NULL DEFAULT 0,
  error_counts jsonb NOT NULL DEFAULT '{}',
  options jsonb NOT NULL DEFAULT '{}',
  scheduled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  first_chunk_at timestamptz,
  finished_at timestamptz,
  cancel_requested_at timestamptz,
  CHECK (succeeded + failed + skipped + cancelled <= total)
);
-- History: newest first per tenant, and the filters of bulkOperations(filter:).
CREATE INDEX bulk_operations_tenant_idx ON bulk_operations (tenant_id, created_at DESC, id DESC);
CREATE INDEX bulk_operations_status_idx ON bulk_operations (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX bulk_operations_creator_idx ON bulk_operations (created_by, status);
CREATE INDEX bulk_operations_parent_idx ON bulk_operations (parent_id) WHERE parent_id IS NOT NULL;
-- Admission of waiting operations (per-user slots, scheduled times).
CREATE INDEX bulk_operations_waiting_idx ON bulk_operations (created_at)
  WHERE status IN ('SCHEDULED', 'QUEUED');
CREATE UNIQUE INDEX bulk_operations_idempotency_key ON bulk_operations (created_by, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- One row per target, in input order. The primary key serves chunk reads (a position range)
-- and keyset pagination of items in input order.
CREATE TABLE bulk_operation_items (
  operation_id uuid NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE,
  position integer NOT NULL,
  target_id bigint NOT NULL,
  outcome text NOT NULL DEFAULT 'PENDING'
    CHECK (outcome IN ('PENDING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED')),
  error_code text,
  error_message text,
  before jsonb,
  after jsonb,
  attempts integer NOT NULL DEFAULT 0,
  processed_at timestamptz,
  PRIMARY KEY (operation_id, position)
);
-- Items filtered by outcome / error code (items(filter:), retry of failed items).
CREATE INDEX bulk_operation_items_outcome_idx ON bulk_operation_items (operation_id, outcome, position)
  WHERE outcome <> 'SUCCEEDED';

-- The queue: one job per chunk of positions. A job is deleted when its chunk commits.
CREATE TABLE bulk_jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  operation_id uuid NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE,
  -- Fairness: claims order by chunk_index first, so a new operation's first chunk goes
  -- ahead of the 50th chunk of a long one (operations interleave chunk by chunk).
  chunk_index integer NOT NULL,
  first_position integer NOT NULL,
  last_position integer NOT NULL,
  -- 'infinity' while the operation waits (scheduled or queued); admission sets it to now().
  run_at timestamptz NOT NULL,
  locked_by text,
  locked_until timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bulk_jobs_claim_idx ON bulk_jobs (chunk_index, id) WHERE locked_by IS NULL;
CREATE INDEX bulk_jobs_operation_idx ON bulk_jobs (operation_id);
CREATE INDEX bulk_jobs_lease_idx ON bulk_jobs (locked_until) WHERE locked_by IS NOT NULL;

CREATE TABLE bulk_operation_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  operation_id uuid NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE,
  type text NOT NULL,
  actor_id uuid REFERENCES users (id),
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bulk_operation_events_operation_idx ON bulk_operation_events (operation_id, id);

ALTER TABLE ticket_comments
  ADD CONSTRAINT ticket_comments_bulk_operation_fk
  FOREIGN KEY (bulk_operation_id) REFERENCES bulk_operations (id) ON DELETE SET NULL;
