-- Schedule and event triggers (docs/adr/0011-triggers.md).
--
-- Written by the engine's `engine_triggers` projection (Workflow and
-- Execution events, checkpoint in the same transaction) and by the
-- scheduler and dispatcher loops. Like engine_executions, these tables hold
-- no fact that is not in the events: drop them, reset the projection, and
-- it rebuilds them.

-- One row per published workflow whose published version has a schedule
-- trigger.
--
-- covered_through: every slot at or before it has fired (its execution's
--                  ExecutionStarted) or been skipped (ScheduledRunsSkipped);
--                  the publication's time for a new schedule.
-- next_fire_at:    the first slot after covered_through (NULL: never); the
--                  scheduler's wake-up time and claim order.
-- generation:      bumped whenever the projection changes the schedule, so
--                  a scheduler holding a stale copy does not overwrite
--                  next_fire_at.
-- lease_*:         the scheduler handling the due row, until when; a dead
--                  scheduler's lease expires and another takes the row.
CREATE TABLE IF NOT EXISTS engine_schedules (
    workflow_id      uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    workflow_version integer     NOT NULL,
    cron             text        NOT NULL,
    timezone         text        NOT NULL,
    catch_up         text        NOT NULL CHECK (catch_up IN ('skip', 'run_once')),
    covered_through  timestamptz NOT NULL,
    next_fire_at     timestamptz,
    generation       bigint      NOT NULL DEFAULT 1,
    lease_owner      uuid,
    lease_until      timestamptz
);

CREATE INDEX IF NOT EXISTS engine_schedules_due
    ON engine_schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- One row per published workflow whose published version has an event
-- trigger: start target_workflow_id when an execution of
-- source_workflow_id (same tenant) ends with on_status.
CREATE TABLE IF NOT EXISTS engine_event_triggers (
    target_workflow_id uuid    PRIMARY KEY,
    source_workflow_id uuid    NOT NULL,
    tenant_id          uuid    NOT NULL,
    workflow_version   integer NOT NULL,
    on_status          text    NOT NULL
        CHECK (on_status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'any'))
);

CREATE INDEX IF NOT EXISTS engine_event_triggers_source
    ON engine_event_triggers (source_workflow_id);

-- Starts owed to event triggers: written by the projection in the batch
-- that applies the source execution's ending, deleted by the dispatcher
-- once the target's execution is started (or can no longer be). The
-- idempotency key of the start makes a repeated dispatch harmless.
CREATE TABLE IF NOT EXISTS engine_trigger_outbox (
    target_workflow_id  uuid        NOT NULL,
    source_execution_id uuid        NOT NULL,
    source_sequence     bigint      NOT NULL,
    tenant_id           uuid        NOT NULL,
    input               jsonb       NOT NULL,
    correlation_id      uuid,
    causation_id        uuid,
    due_at              timestamptz NOT NULL,
    attempts            integer     NOT NULL DEFAULT 0,
    last_error          text,
    lease_owner         uuid,
    lease_until         timestamptz,
    PRIMARY KEY (target_workflow_id, source_execution_id, source_sequence)
);

CREATE INDEX IF NOT EXISTS engine_trigger_outbox_due ON engine_trigger_outbox (due_at);
