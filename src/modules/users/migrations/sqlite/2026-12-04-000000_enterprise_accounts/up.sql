-- Accounts at an enterprise identity provider (a SAML connection) linked
-- to a user: Clerk's `enterprise_accounts` and `saml_accounts`. The
-- provider's subject (the NameID) names the account within its connection.
CREATE TABLE enterprise_accounts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'saml'.
    protocol TEXT NOT NULL,
    -- saml_custom, saml_okta, …
    provider TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    connection_name TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    email_address TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    -- JSON: the other attributes the provider sent.
    public_metadata TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    last_authenticated_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (connection_id, provider_user_id)
);
CREATE INDEX enterprise_accounts_user_idx ON enterprise_accounts (user_id);
