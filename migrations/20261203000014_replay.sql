-- Replays: rebuilds of read models from the event store into shadow
-- tables, swapped in atomically (docs/adr/0015-rebuilds.md).

-- Notifications of projections. A rebuild's connections set
-- `jobsprint.replay = on`; then nothing is sent, so folding old events
-- into shadow tables never wakes a subscriber or a worker.
CREATE OR REPLACE FUNCTION jobsprint_notify(channel text, payload text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('jobsprint.replay', true), '') <> 'on' THEN
        PERFORM pg_notify(channel, payload);
    END IF;
END
$$;

-- The last rebuild of each projection and, while it runs, its progress
-- (the `projections` query and `jobsprint replay rebuild --json` show it).
CREATE TABLE IF NOT EXISTS projection_rebuilds (
    projection   text        PRIMARY KEY,
    state        text        NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    -- Events folded into the shadow tables so far, and the store's size
    -- when the rebuild began (it catches up with whatever came since).
    events_done  bigint      NOT NULL DEFAULT 0,
    events_total bigint      NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    error        text
);
