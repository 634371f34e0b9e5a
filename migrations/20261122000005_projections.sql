-- The projector runtime and the first read model (docs/adr/0007-projections.md).
--
-- A projection applies a batch of committed events to its read-model tables
-- and, in the SAME transaction, moves its checkpoint and the last applied
-- sequence of every aggregate it saw: a crash at any point neither loses nor
-- double-applies an event. Every writer of a projection's rows locks its
-- checkpoint row first, so two runners (two processes) serialize per batch.

-- Where each projection stands in commit order, and whether it runs.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    projection      text        PRIMARY KEY,
    -- The commit-order cursor of the last event handled (applied, passed
    -- over or dead-lettered): (transaction_id, global_position).
    transaction_id  xid8        NOT NULL DEFAULT '0'::xid8,
    global_position bigint      NOT NULL DEFAULT 0,
    -- running; stopped (a poison event under the Stop policy); failed (a
    -- gap in an aggregate's sequences). `error` says why.
    state           text        NOT NULL DEFAULT 'running'
                                CHECK (state IN ('running', 'stopped', 'failed')),
    error           text,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Deduplication and continuity: the last sequence applied per aggregate.
-- An event at or below it is a redelivery (skipped); one above it plus one
-- is a gap (the projection fails, it never skips).
CREATE TABLE IF NOT EXISTS projection_aggregate_sequences (
    projection     text   NOT NULL,
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    last_sequence  bigint NOT NULL CHECK (last_sequence > 0),
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);

-- Events a projection could not apply (poison events), with the error.
-- One row per (projection, event): a second failure of the same event
-- updates the row. `retry_dead_letter` deletes the row once it applies.
CREATE TABLE IF NOT EXISTS projection_dead_letters (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection      text        NOT NULL,
    global_position bigint      NOT NULL,
    transaction_id  xid8        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    error           text        NOT NULL,
    payload         json        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 1,
    failed_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (projection, aggregate_type, aggregate_id, sequence)
);

-- A wake-up hint for commit-order readers, delivered at commit. Readers
-- never trust it for delivery: they read the store below the xmin horizon,
-- keep looking briefly after each delivery and poll on a bounded interval.
--
-- NOTIFY is not free under concurrency: a notifying transaction takes a
-- cluster-wide lock at commit and holds it through its WAL flush, so
-- notifying writers commit one at a time. Measured with `make bench`, every
-- writer notifying cut commands/s with 8 clients from 0.92 to 0.52 of raw.
-- So at most one notifying transaction is in flight per database (the
-- advisory lock, key 'jobsprnt' in ASCII, is held until it ends); writers
-- that find it taken skip the notification, and the reader that is woken
-- by the one in flight picks their events up while it keeps looking.
CREATE OR REPLACE FUNCTION jobsprint_notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_try_advisory_xact_lock(7669456938382552692) THEN
        PERFORM pg_notify('jobsprint_events', '');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS events_notify ON events;
CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION jobsprint_notify_events();

-- Read model `workflows`: one row per workflow, folded from Workflow events.
-- Timestamps are the events' recorded_at.
CREATE TABLE IF NOT EXISTS workflows (
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    name              text        NOT NULL,
    description       text        NOT NULL,
    status            text        NOT NULL
                                  CHECK (status IN ('draft', 'published', 'archived')),
    latest_version    integer     NOT NULL DEFAULT 0,
    published_version integer,
    version_count     integer     NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- The `workflows` query: a tenant's workflows, newest first, keyset paged.
CREATE INDEX IF NOT EXISTS workflows_by_tenant
    ON workflows (tenant_id, created_at DESC, id DESC);

-- Every definition version of every workflow.
CREATE TABLE IF NOT EXISTS workflow_versions (
    workflow_id uuid        NOT NULL,
    version     integer     NOT NULL,
    tenant_id   uuid        NOT NULL,
    definition  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

-- Executions per workflow, folded from ExecutionStarted. A table of its own
-- (joined by the queries) so the count never depends on the order of two
-- different aggregates' events: a Kafka source keyed by aggregate id may
-- deliver an execution's start before its workflow's creation.
CREATE TABLE IF NOT EXISTS workflow_execution_counts (
    workflow_id       uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    executions_count  bigint      NOT NULL DEFAULT 0,
    last_execution_at timestamptz NOT NULL
);
