-- The users area: users, their email addresses and pending verifications,
-- and the append-only log of credential checks.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    external_id TEXT UNIQUE,
    username TEXT UNIQUE,
    first_name TEXT,
    last_name TEXT,
    locale TEXT,
    password_digest TEXT,
    password_hasher TEXT,
    password_last_updated_at BIGINT,
    primary_email_address_id TEXT,
    public_metadata TEXT NOT NULL,
    private_metadata TEXT NOT NULL,
    unsafe_metadata TEXT NOT NULL,
    banned BOOLEAN NOT NULL DEFAULT FALSE,
    locked_until BIGINT,
    delete_self_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    create_organization_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    create_organizations_limit INTEGER,
    legal_accepted_at BIGINT,
    last_sign_in_at BIGINT,
    last_active_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_authentication_strategy TEXT
);

-- Orderings offered by GET /v1/users (order_by); the id breaks ties.
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE INDEX users_updated_at_idx ON users (updated_at, id);

CREATE INDEX users_last_sign_in_at_idx ON users (last_sign_in_at, id);

CREATE INDEX users_last_active_at_idx ON users (last_active_at, id);

-- Addresses are stored lower-cased, so the unique index makes them unique
-- case-insensitively.
CREATE TABLE email_addresses (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_address TEXT NOT NULL UNIQUE,
    verification_status TEXT NOT NULL,
    verification_strategy TEXT NOT NULL,
    reserved BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX email_addresses_user_id_idx ON email_addresses (user_id);

-- Append-only: one row per credential check. Lockout counts recent failures.
CREATE TABLE credential_checks (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX credential_checks_user_idx ON credential_checks (user_id, created_at);

-- Pending email-code verifications of addresses a signed-in user adds.
CREATE TABLE email_verifications (
    email_address_id TEXT PRIMARY KEY REFERENCES email_addresses (id) ON DELETE CASCADE,
    code_digest TEXT,
    code_expire_at BIGINT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    code_sends INTEGER NOT NULL DEFAULT 0,
    code_last_sent_at BIGINT
);

-- The retention job trims credential checks by age.
CREATE INDEX credential_checks_time_idx ON credential_checks (created_at);
