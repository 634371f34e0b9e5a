-- Per-subject data keys for personal data, destroyed to erase it
-- (crypto-shredding; docs/adr/0016-erasure.md).
--
-- A subject is a user (subject_id is the User aggregate id). Its random
-- 32-byte key seals the email and display name in that user's events and
-- snapshots (AES-256-GCM, associated data binding the subject and the
-- field). wrapped_key is base64 of nonce || AES-256-GCM ciphertext of the
-- key under the master key master_key_id, with associated data binding
-- tenant_id, subject_id and key_id; master keys live in configuration.
--
-- `jobsprint admin erase-subject` sets wrapped_key and master_key_id to
-- NULL and erased_at to the time of erasure: from then on nothing opens
-- what the key sealed, while the events themselves (append-only,
-- hash-chained over their ciphertext) stay as they are. A row is made on a
-- subject's first sealed write, one per subject; an erased row is never
-- given a key again.

CREATE TABLE IF NOT EXISTS subject_keys (
    subject_id    text        PRIMARY KEY CHECK (subject_id <> ''),
    tenant_id     uuid        NOT NULL,
    key_id        text        NOT NULL CHECK (key_id <> ''),
    wrapped_key   text        NULL,
    master_key_id text        NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    erased_at     timestamptz NULL,
    -- Either a live key or an erased one: never a key after erasure, never
    -- a row without a key that is not erased.
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL)),
    CHECK ((wrapped_key IS NULL) = (master_key_id IS NULL))
);

CREATE INDEX IF NOT EXISTS subject_keys_tenant ON subject_keys (tenant_id);
