-- The event store: the tables postgres-es reads and writes, plus the columns
-- it does not know about and that PostgreSQL fills by default on every INSERT.
-- See docs/adr/0001-postgresql-event-store.md and shared NOTES.md ("Global
-- order on PostgreSQL") for why transaction_id exists.

CREATE TABLE IF NOT EXISTS events (
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL CHECK (sequence > 0),
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    payload         json        NOT NULL,
    metadata        json        NOT NULL,
    -- Commit-order reading: readers take only rows whose transaction is below
    -- pg_snapshot_xmin(pg_current_snapshot()), ordered by
    -- (transaction_id, global_position). A bare BIGSERIAL read in order loses
    -- events, because positions are taken at INSERT and become visible at COMMIT.
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX IF NOT EXISTS events_global_position ON events (global_position);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id);
-- The relay's and the projectors' read path: resume after a (transaction_id,
-- global_position) cursor.
CREATE INDEX IF NOT EXISTS events_commit_order ON events (transaction_id, global_position);

CREATE TABLE IF NOT EXISTS snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          json   NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- One row per command that wrote events, written in the same transaction as
-- those events: the same command id sent again returns this row instead of
-- applying the command twice. See docs/adr/0004-command-ids.md.
CREATE TABLE IF NOT EXISTS command_log (
    command_id     uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    version        bigint      NOT NULL,
    position       bigint      NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
