-- Read models `integrations` and `audit_log` (docs/adr/0007-projections.md).
--
-- Both are folded by projectors from committed events, in the same
-- transaction as the projection's checkpoint. Timestamps are the events'
-- recorded_at (or the time a fact carries), never the projector's clock, so
-- a rebuild gives the same rows. Neither table ever holds credentials,
-- ciphertext or event payloads.

-- Read model `integrations`: one row per integration, folded from
-- Integration events. `status` is enabled, disabled or removed (a removed
-- integration keeps its row). Only whether credentials are set, and when
-- they were last rotated, is kept: never the sealed secret itself.
CREATE TABLE IF NOT EXISTS integrations (
    id                     uuid        PRIMARY KEY,
    tenant_id              uuid        NOT NULL,
    name                   text        NOT NULL,
    kind                   text        NOT NULL,
    config                 jsonb       NOT NULL,
    status                 text        NOT NULL
                                       CHECK (status IN ('enabled', 'disabled', 'removed')),
    credentials_set        boolean     NOT NULL DEFAULT false,
    credentials_rotated_at timestamptz,
    -- The last health check: NULL until one ran.
    healthy                boolean,
    health_message         text,
    health_latency_ms      bigint,
    health_checked_at      timestamptz,
    -- No event moves the circuit yet: it reads closed until one does.
    circuit_state          text        NOT NULL DEFAULT 'closed'
                                       CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    version                bigint      NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
-- The `integrations` query: a tenant's integrations, newest first, keyset
-- paged, optionally by kind or status (few rows per tenant: filtered in
-- the index scan).
CREATE INDEX IF NOT EXISTS integrations_by_tenant
    ON integrations (tenant_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS integrations_by_tenant_kind
    ON integrations (tenant_id, kind, created_at DESC, id DESC);

-- Read model `audit_log`: one row per event of every aggregate type: who
-- did what to which aggregate, when, and in which conversation. No payload:
-- the history of one aggregate is the `events` query.
CREATE TABLE IF NOT EXISTS audit_log (
    global_position bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    tenant_id       uuid        NOT NULL,
    actor           text        NOT NULL,
    action          text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL,
    command_id      uuid,
    correlation_id  uuid,
    causation_id    uuid,
    trace_id        text,
    -- Where the request came from, when the event's metadata says so
    -- (`client_ip`, `user_agent`); NULL for events written without them.
    client_ip       text,
    user_agent      text,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);
-- The `auditLog` query: newest first per tenant, keyset paged on
-- (recorded_at, global_position), optionally by aggregate or by actor and
-- a time range.
CREATE INDEX IF NOT EXISTS audit_log_by_tenant
    ON audit_log (tenant_id, recorded_at DESC, global_position DESC);
CREATE INDEX IF NOT EXISTS audit_log_by_aggregate
    ON audit_log (tenant_id, aggregate_type, aggregate_id, recorded_at DESC, global_position DESC);
CREATE INDEX IF NOT EXISTS audit_log_by_actor
    ON audit_log (tenant_id, actor, recorded_at DESC, global_position DESC);
