-- The execution engine's work table (docs/adr/0009-execution-engine.md).
--
-- One row per running execution, written by the engine's intake (a
-- projection of Execution events, with its checkpoint in the same
-- transaction) and by the workers that drive executions. It holds no fact
-- that is not in the events: drop it and the intake rebuilds it.
--
-- due_at:     when the execution next needs a worker (NULL: only when
--             something happens to it, a signal or a cancellation).
-- wake_seq:   bumped by the intake whenever an event may need a worker; a
--             worker that releases an execution keeps its own due time only
--             if no wake arrived while it held it.
-- lease_*:    the worker holding it, until when. A worker renews its leases
--             while it lives; a dead worker's leases expire and another
--             worker takes the execution over.
CREATE TABLE IF NOT EXISTS engine_executions (
    execution_id     uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    workflow_id      uuid        NOT NULL,
    workflow_version integer     NOT NULL,
    due_at           timestamptz,
    wake_seq         bigint      NOT NULL DEFAULT 0,
    lease_owner      uuid,
    lease_until      timestamptz,
    started_at       timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS engine_executions_due
    ON engine_executions (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS engine_executions_owner
    ON engine_executions (lease_owner) WHERE lease_owner IS NOT NULL;
