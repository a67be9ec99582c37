-- The SAML area: connections to identity providers with the email domains
-- they serve, the instance's service-provider key, the AuthnRequests sent
-- and not yet answered, and the assertions already used (replay).

CREATE TABLE saml_connections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- saml_custom, saml_okta, saml_google or saml_microsoft.
    provider TEXT NOT NULL,
    idp_entity_id TEXT,
    idp_sso_url TEXT,
    -- PEM, as given or as read from the IdP's metadata.
    idp_certificate TEXT,
    idp_metadata_url TEXT,
    idp_metadata TEXT,
    organization_id TEXT,
    -- JSON: {user_id, email_address, first_name, last_name}.
    attribute_mapping TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT FALSE,
    sync_user_attributes BOOLEAN NOT NULL DEFAULT TRUE,
    allow_subdomains BOOLEAN NOT NULL DEFAULT FALSE,
    allow_idp_initiated BOOLEAN NOT NULL DEFAULT FALSE,
    disable_additional_identifications BOOLEAN NOT NULL DEFAULT FALSE,
    allow_organization_account_linking BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON: {mode, source}.
    login_hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX saml_connections_created_idx ON saml_connections (created_at, id);
CREATE INDEX saml_connections_organization_idx ON saml_connections (organization_id);

-- A domain belongs to one connection: the key makes two connections
-- claiming it at once a conflict, not a race.
CREATE TABLE saml_connection_domains (
    domain TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES saml_connections (id) ON DELETE CASCADE,
    position INTEGER NOT NULL
);
CREATE INDEX saml_connection_domains_connection_idx ON saml_connection_domains (connection_id);

-- The instance's service-provider key: one row, made on first use.
CREATE TABLE saml_sp_keys (
    id TEXT PRIMARY KEY,
    -- PKCS#8 DER, sealed under the instance encryption key.
    private_key TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- AuthnRequests sent and not yet answered. A response names one with
-- InResponseTo; it is used once.
CREATE TABLE saml_requests (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES saml_connections (id) ON DELETE CASCADE,
    sign_in_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    redirect_url TEXT NOT NULL,
    native BOOLEAN NOT NULL,
    force_authn BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX saml_requests_expires_idx ON saml_requests (expires_at);

-- Assertion ids already used, kept until the assertion expires.
CREATE TABLE saml_used_assertions (
    connection_id TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_used_assertions_expires_idx ON saml_used_assertions (expires_at);
