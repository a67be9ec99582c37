-- Invitations to join an organization, accepted with a single-use ticket
-- (stored as a SHA-256 digest) by a signed-in user or a new sign-up.
CREATE TABLE organization_invitations (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email_address TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    inviter_user_id TEXT,
    public_metadata TEXT NOT NULL,
    private_metadata TEXT NOT NULL,
    ticket_digest TEXT NOT NULL UNIQUE,
    url TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX organization_invitations_org_idx ON organization_invitations (organization_id, created_at);
CREATE INDEX organization_invitations_email_idx ON organization_invitations (email_address, status);

-- A sign-up started from an invitation joins its organization on completion.
ALTER TABLE sign_ups ADD COLUMN organization_invitation_id TEXT;
