-- The OAuth area: social connections managed through the Backend API
-- (those in the configuration file are not stored), and the authorization
-- requests sent to providers and not yet answered.

CREATE TABLE oauth_connections (
    id TEXT PRIMARY KEY,
    -- oauth_google, oauth_github, oauth_microsoft, oauth_custom_<key>.
    strategy TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    -- Sealed under the instance encryption key.
    client_secret TEXT NOT NULL,
    -- Space-separated; empty: the provider's defaults.
    scopes TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    -- An OIDC issuer (custom providers; a test server for a preset).
    issuer TEXT,
    -- Microsoft's tenant (default common).
    tenant TEXT,
    name TEXT,
    logo_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per authorization request: found by the digest of its state,
-- used once. It finishes a sign-in, or connects an account to a user.
CREATE TABLE oauth_states (
    id TEXT PRIMARY KEY,
    strategy TEXT NOT NULL,
    sign_in_id TEXT,
    user_id TEXT,
    client_id TEXT NOT NULL,
    redirect_url TEXT NOT NULL,
    native BOOLEAN NOT NULL,
    nonce TEXT NOT NULL,
    -- Sealed under the instance encryption key.
    pkce_verifier TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);
