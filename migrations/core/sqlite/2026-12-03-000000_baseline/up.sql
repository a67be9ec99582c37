-- The core's tables, in the primary database only: the instance, its
-- session-token signing keys and its Backend API secret keys.
-- Timestamps are Unix milliseconds (Clerk's API unit); JSON is stored as
-- text so the schema is the same on SQLite.

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    environment_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Instance settings added by this version. Instances that already
    -- existed keep the "last used" badge off until the operator turns it
    -- on; instances created from now on start with it on (bootstrap sets
    -- it).
    show_last_used_badge BOOLEAN NOT NULL DEFAULT FALSE,
    -- HMAC key for client tokens (the __client cookie and native client
    -- JWTs).
    client_token_key TEXT
);

-- RSA signing keys for session tokens. The newest unretired key signs; retired
-- keys stay published in the JWKS until the tokens they signed have expired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    algorithm TEXT NOT NULL,
    private_key_pkcs8 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    -- Key rotation: a new key is published before it starts signing
    -- (activates_at), and a retired key stays published until the tokens it
    -- signed have expired: retired_at + the token lifetime, or
    -- publish_until for longer-lived tokens minted through the Backend API.
    activates_at BIGINT NOT NULL DEFAULT 0,
    publish_until BIGINT
);

-- Backend API secret keys, stored only as SHA-256 digests of the full key.
CREATE TABLE secret_keys (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    key_digest TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
