-- Tamper evidence for the event store (docs/adr/0013-hash-chain.md).
--
-- A sealer follows commit order and appends each event to its tenant's hash
-- chain here: every chain row holds the hash of the event's audit record
-- (its CloudEvents export line), which covers the previous row's hash. The
-- write path computes nothing, so writers never wait for each other.

-- One row per sealed event, insert-only. chain_seq counts from 1 per tenant.
CREATE TABLE IF NOT EXISTS event_chain (
    tenant_id       uuid        NOT NULL,
    chain_seq       bigint      NOT NULL CHECK (chain_seq > 0),
    global_position bigint      NOT NULL UNIQUE,
    event_id        uuid        NOT NULL,
    prev_hash       text        NOT NULL,
    hash            text        NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, chain_seq)
);

-- Each tenant's last chain row: where the next one links, and what verify
-- expects the chain to end with (a truncated tail shows here).
CREATE TABLE IF NOT EXISTS chain_heads (
    tenant_id       uuid   PRIMARY KEY,
    chain_seq       bigint NOT NULL CHECK (chain_seq > 0),
    hash            text   NOT NULL,
    global_position bigint NOT NULL,
    event_id        uuid   NOT NULL
);

-- The sealer's place in commit order: everything at or before it is sealed.
-- One row; a sealing batch locks it FOR UPDATE, so sealers take turns.
CREATE TABLE IF NOT EXISTS chain_cursor (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    transaction_id  xid8    NOT NULL,
    global_position bigint  NOT NULL
);
INSERT INTO chain_cursor (id, transaction_id, global_position)
VALUES (true, '0'::xid8, 0)
ON CONFLICT (id) DO NOTHING;

-- Append-only for the application. Privileges first (they bind a role that
-- does not own the tables; the owner can grant them back to itself), then
-- triggers, which bind the owner too until it disables them on purpose.
REVOKE UPDATE, DELETE, TRUNCATE ON events, event_chain FROM PUBLIC, CURRENT_USER;

CREATE OR REPLACE FUNCTION jobsprint_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events are never updated or deleted; see docs/adr/0013-hash-chain.md.';
END
$$;

DROP TRIGGER IF EXISTS events_append_only ON events;
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION jobsprint_append_only();
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION jobsprint_append_only();

DROP TRIGGER IF EXISTS event_chain_append_only ON event_chain;
CREATE TRIGGER event_chain_append_only
    BEFORE UPDATE OR DELETE ON event_chain
    FOR EACH ROW EXECUTE FUNCTION jobsprint_append_only();
DROP TRIGGER IF EXISTS event_chain_no_truncate ON event_chain;
CREATE TRIGGER event_chain_no_truncate
    BEFORE TRUNCATE ON event_chain
    FOR EACH STATEMENT EXECUTE FUNCTION jobsprint_append_only();
