-- Clients, sessions, sign-up and sign-in attempts, sign-in tokens and the
-- append-only log of failed and successful credential checks.

-- Instance settings added by this version. Instances that already existed
-- keep the "last used" badge off until the operator turns it on; instances
-- created from now on start with it on (bootstrap sets it).
ALTER TABLE instances ADD COLUMN show_last_used_badge BOOLEAN NOT NULL DEFAULT FALSE;
-- HMAC key for client tokens (the __client cookie and native client JWTs).
ALTER TABLE instances ADD COLUMN client_token_key TEXT;

ALTER TABLE users ADD COLUMN last_authentication_strategy TEXT;

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    sign_in_id TEXT,
    sign_up_id TEXT,
    last_active_session_id TEXT,
    last_authentication_strategy TEXT,
    ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The session row holds the claims snapshot the token path needs, so minting
-- a token is one indexed read of this table.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    last_active_organization_id TEXT,
    claims_snapshot TEXT NOT NULL,
    first_factor_verified_at BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    abandon_at BIGINT NOT NULL,
    ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sessions_client_id_idx ON sessions (client_id, created_at);
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at);
CREATE INDEX sessions_status_idx ON sessions (status, created_at);

CREATE TABLE sign_ups (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    email_address TEXT,
    username TEXT,
    first_name TEXT,
    last_name TEXT,
    password_digest TEXT,
    unsafe_metadata TEXT NOT NULL,
    email_verification_status TEXT,
    code_digest TEXT,
    code_expire_at BIGINT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    code_sends INTEGER NOT NULL DEFAULT 0,
    code_last_sent_at BIGINT,
    created_user_id TEXT,
    created_session_id TEXT,
    abandon_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sign_ins (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    identifier TEXT,
    user_id TEXT,
    first_factor_strategy TEXT,
    first_factor_status TEXT,
    email_address_id TEXT,
    code_digest TEXT,
    code_expire_at BIGINT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    code_sends INTEGER NOT NULL DEFAULT 0,
    code_last_sent_at BIGINT,
    created_session_id TEXT,
    abandon_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sign_in_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    expire_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Append-only: one row per credential check. Lockout counts recent failures.
CREATE TABLE credential_checks (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX credential_checks_user_idx ON credential_checks (user_id, created_at);
