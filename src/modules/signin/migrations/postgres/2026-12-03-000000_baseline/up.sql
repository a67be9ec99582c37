-- The sign-in area: sign-in attempts and sign-in tokens.

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

ALTER TABLE sign_ins SET (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.05);
