-- Accounts at social (OAuth 2.0 / OpenID Connect) providers linked to a
-- user: Clerk's `external_accounts`. The provider's tokens are sealed under
-- the instance encryption key.
CREATE TABLE external_accounts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- oauth_google, oauth_github, oauth_custom_<key>, …
    provider TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    email_address TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL,
    first_name TEXT,
    last_name TEXT,
    image_url TEXT,
    username TEXT,
    -- Space-separated, as granted.
    approved_scopes TEXT NOT NULL,
    access_token TEXT,
    refresh_token TEXT,
    -- Unix milliseconds.
    token_expires_at BIGINT,
    public_metadata TEXT NOT NULL,
    last_authenticated_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, provider_user_id)
);
CREATE INDEX external_accounts_user_idx ON external_accounts (user_id);
