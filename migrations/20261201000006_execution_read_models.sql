-- Read model `executions` (docs/adr/0007-projections.md): one row per
-- execution and one per (execution, node), folded from Execution events by
-- the `executions` projection. Every timestamp is an event's recorded_at, so
-- a rebuild gives identical rows. Only Execution events feed these tables,
-- and each execution's events arrive in sequence order whatever the source,
-- so nothing here depends on the order of two different aggregates' events.

CREATE TABLE IF NOT EXISTS executions (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    workflow_id      uuid        NOT NULL,
    workflow_version integer     NOT NULL,
    status           text        NOT NULL
                                 CHECK (status IN ('running', 'completed', 'failed',
                                                   'cancelled', 'timed_out')),
    -- `{"type": "manual"}`, `{"type": "webhook", "delivery_id": …}`, …
    trigger          jsonb       NOT NULL,
    idempotency_key  text,
    input            jsonb       NOT NULL,
    output           jsonb,
    -- ExecutionFailed's error; ExecutionTimedOut records a fixed text.
    error            text,
    cancel_reason    text,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    -- finished_at - started_at in milliseconds, once finished.
    duration_ms      bigint,
    updated_at       timestamptz NOT NULL,
    -- The last event applied: its sequence in the execution and its global
    -- position (what a client passes as `consistentWith`).
    last_sequence    bigint      NOT NULL,
    last_position    bigint      NOT NULL
);
-- `executions` without filters: a tenant's executions, newest first, keyset
-- paged by (started_at, id).
CREATE INDEX IF NOT EXISTS executions_by_tenant
    ON executions (tenant_id, started_at DESC, id DESC);
-- `executions(filter: {workflowId})` and `workflowStats`: the statistics read
-- status and duration from the index alone (an index-only scan of one
-- workflow's date range).
CREATE INDEX IF NOT EXISTS executions_by_workflow
    ON executions (tenant_id, workflow_id, started_at DESC, id DESC)
    INCLUDE (status, duration_ms);
-- `executions(filter: {status})`, e.g. every running execution.
CREATE INDEX IF NOT EXISTS executions_by_status
    ON executions (tenant_id, status, started_at DESC, id DESC);

-- One row per step (node) of an execution.
CREATE TABLE IF NOT EXISTS execution_steps (
    execution_id   uuid        NOT NULL REFERENCES executions (id),
    node_id        text        NOT NULL,
    tenant_id      uuid        NOT NULL,
    status         text        NOT NULL
                               CHECK (status IN ('scheduled', 'running', 'completed', 'failed',
                                                 'retry_scheduled', 'waiting_for_signal')),
    -- Attempts started so far (the current attempt's number).
    attempts       integer     NOT NULL DEFAULT 0,
    scheduled_at   timestamptz NOT NULL,
    -- When the first attempt started, and when the current one did.
    started_at     timestamptz,
    attempt_started_at timestamptz,
    -- When the last attempt ended (completed or failed); cleared when
    -- another attempt starts.
    finished_at    timestamptz,
    output         jsonb,
    -- The last failure's error and whether it may be retried; cleared on
    -- completion.
    error          text,
    retryable      boolean,
    -- When the scheduled retry runs, while `retry_scheduled`.
    next_retry_at  timestamptz,
    -- The signal awaited, while `waiting_for_signal`.
    waiting_for    text,
    -- The last failure says its effect may already have happened (a call
    -- that timed out after the target may have acted on it).
    possibly_done  boolean     NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (execution_id, node_id)
);
