-- The relay from the event store to Kafka (docs/adr/0008-event-stream.md).
--
-- One row per relay (normally one: `jobsprint.events`): the commit-order
-- cursor of the last event the broker acknowledged, and the fencing number
-- of the lease. Exactly one process holds a relay's advisory lock at a
-- time; it increments `fencing` when it takes over, and every cursor save
-- names the fencing number it holds, so a process that lost its lease
-- without noticing can never move the cursor.
CREATE TABLE IF NOT EXISTS relay_cursors (
    relay           text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0'::xid8,
    global_position bigint      NOT NULL DEFAULT 0,
    fencing         bigint      NOT NULL DEFAULT 0,
    holder          text,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
