-- Foundation: the instance, its signing keys and secret keys, and users with
-- their email addresses. Timestamps are Unix milliseconds (Clerk's API unit);
-- JSON is stored as text so the schema is the same on SQLite.

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    environment_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- RSA signing keys for session tokens. The newest unretired key signs; retired
-- keys stay published in the JWKS until the tokens they signed have expired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    algorithm TEXT NOT NULL,
    private_key_pkcs8 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
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
    updated_at BIGINT NOT NULL
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
