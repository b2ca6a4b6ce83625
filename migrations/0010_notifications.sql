-- Notifications: webhook endpoints per tenant, and a transactional outbox of events and their
-- deliveries (webhooks and e-mail), written in the same transaction as the state change.

CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
  description text CHECK (length(description) <= 500),
  events text[] NOT NULL CHECK (cardinality(events) >= 1),
  enabled boolean NOT NULL DEFAULT true,
  -- Why it was disabled automatically (410 Gone, too many consecutive failures); null otherwise.
  disabled_reason text,
  -- The signing secret, AES-256-GCM encrypted under WEBHOOK_SECRET_KEY (12-byte IV || ciphertext),
  -- with the endpoint id as associated data. Never returned after creation or rotation.
  secret_ciphertext bytea NOT NULL,
  -- After a rotation the old secret also signs (a second signature) until this time.
  previous_secret_ciphertext bytea,
  previous_secret_expires_at timestamptz,
  consecutive_failures integer NOT NULL DEFAULT 0,
  created_by uuid NOT NULL REFERENCES users (id),
  -- Millisecond precision: the connection's cursor carries created_at as an ISO string (ms), and
  -- a microsecond value would not round-trip (the row a cursor names would appear again).
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- The endpoints connection (tenant, id order) and the outbox fan-out (a tenant's enabled endpoints).
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, created_at, id);

-- One row per event (the message). Its id is the webhook-id: the same on every retry and
-- redelivery, so receivers dedupe on it.
CREATE TABLE notification_events (
  id text PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  operation_id uuid REFERENCES bulk_operations (id) ON DELETE CASCADE,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_events_operation_idx ON notification_events (operation_id);
-- Pruning after NOTIFY_RETENTION_DAYS (src/notify/retention.ts).
CREATE INDEX notification_events_created_idx ON notification_events (created_at);

-- One row per (event, destination): a webhook endpoint or an e-mail recipient.
CREATE TABLE notification_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id text NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  channel text NOT NULL CHECK (channel IN ('WEBHOOK', 'EMAIL')),
  endpoint_id uuid REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  recipient text,
  CHECK ((channel = 'WEBHOOK') = (endpoint_id IS NOT NULL) AND (channel = 'EMAIL') = (recipient IS NOT NULL)),
  -- PENDING (to send or retry) -> DELIVERED | FAILED (gave up: 24 h of retries, endpoint disabled or deleted)
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
  attempts integer NOT NULL DEFAULT 0,
  -- Also the claim's lease: a claim moves it past the send timeout, so a deliverer that
  -- crashes mid-send leaves a delivery that simply comes due again (same webhook-id).
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_status_code integer,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- The claim: due PENDING deliveries in next_attempt_at order; delivered and failed ones leave the index.
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE status = 'PENDING';
-- The deliveries connection of an endpoint, newest first.
CREATE INDEX notification_deliveries_endpoint_idx ON notification_deliveries (endpoint_id, id)
  WHERE endpoint_id IS NOT NULL;
CREATE INDEX notification_deliveries_event_idx ON notification_deliveries (event_id);
