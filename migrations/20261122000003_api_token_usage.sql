-- When each API token was last used. Operational data, not a fact of the
-- domain: written at most once a minute per token, off the request path.
CREATE TABLE IF NOT EXISTS api_token_usage (
    token_id     uuid        PRIMARY KEY,
    last_used_at timestamptz NOT NULL
);
