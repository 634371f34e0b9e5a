-- Tenant data keys for envelope encryption of integration credentials (see
-- docs/adr/0003-secret-encryption.md). Each tenant has random 32-byte data
-- keys; the newest is active, older ones stay to open what they sealed.
-- wrapped_key is base64 of nonce || AES-256-GCM ciphertext of the data key
-- under the master key master_key_id, with associated data binding
-- tenant_id and key_id. Master keys live in configuration, never here.
-- `jobsprint admin rotate-key` re-wraps rows one at a time, changing only
-- wrapped_key, master_key_id and rewrapped_at; rows are never deleted.

CREATE TABLE IF NOT EXISTS tenant_data_keys (
    tenant_id     uuid        NOT NULL,
    key_id        text        NOT NULL CHECK (key_id <> ''),
    wrapped_key   text        NOT NULL,
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    rewrapped_at  timestamptz,
    PRIMARY KEY (tenant_id, key_id)
);
