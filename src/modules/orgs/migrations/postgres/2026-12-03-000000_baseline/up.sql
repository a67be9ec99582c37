-- The organizations area: organizations, memberships, roles, permissions,
-- settings and invitations.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    -- 0 means no limit.
    max_allowed_memberships INTEGER NOT NULL DEFAULT 0,
    admin_delete_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    public_metadata TEXT NOT NULL,
    private_metadata TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX organizations_created_at_idx ON organizations (created_at, id);

CREATE TABLE organization_memberships (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    public_metadata TEXT NOT NULL,
    private_metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, user_id)
);

CREATE INDEX organization_memberships_user_idx ON organization_memberships (user_id, created_at);

CREATE INDEX organization_memberships_role_idx ON organization_memberships (role);

CREATE TABLE organization_roles (
    id TEXT PRIMARY KEY,
    role_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE organization_permissions (
    id TEXT PRIMARY KEY,
    permission_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE organization_role_permissions (
    role_id TEXT NOT NULL REFERENCES organization_roles (id) ON DELETE CASCADE,
    permission_id TEXT NOT NULL REFERENCES organization_permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, permission_id)
);

-- Instance-wide organization settings: one row.
CREATE TABLE organization_settings (
    id TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    max_allowed_memberships INTEGER NOT NULL,
    creator_role TEXT NOT NULL,
    default_role TEXT NOT NULL,
    admin_delete_enabled BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Clerk's default roles and system permissions.
INSERT INTO organization_roles (id, role_key, name, description, is_system, created_at, updated_at) VALUES
    ('role_system_admin', 'org:admin', 'Admin', 'Manages the organization and its members.', TRUE, 0, 0),
    ('role_system_member', 'org:member', 'Member', 'A member of the organization.', TRUE, 0, 0);

INSERT INTO organization_permissions (id, permission_key, name, description, is_system, created_at, updated_at) VALUES
    ('perm_sys_profile_manage', 'org:sys_profile:manage', 'Manage organization', 'Change the organization''s name, slug and logo.', TRUE, 0, 0),
    ('perm_sys_profile_delete', 'org:sys_profile:delete', 'Delete organization', 'Delete the organization.', TRUE, 0, 0),
    ('perm_sys_memberships_read', 'org:sys_memberships:read', 'Read members', 'See the members and invitations.', TRUE, 0, 0),
    ('perm_sys_memberships_manage', 'org:sys_memberships:manage', 'Manage members', 'Invite, remove and change the roles of members.', TRUE, 0, 0),
    ('perm_sys_domains_read', 'org:sys_domains:read', 'Read domains', 'See the organization''s domains.', TRUE, 0, 0),
    ('perm_sys_domains_manage', 'org:sys_domains:manage', 'Manage domains', 'Add and remove the organization''s domains.', TRUE, 0, 0);

INSERT INTO organization_role_permissions (role_id, permission_id) VALUES
    ('role_system_admin', 'perm_sys_profile_manage'),
    ('role_system_admin', 'perm_sys_profile_delete'),
    ('role_system_admin', 'perm_sys_memberships_read'),
    ('role_system_admin', 'perm_sys_memberships_manage'),
    ('role_system_admin', 'perm_sys_domains_read'),
    ('role_system_admin', 'perm_sys_domains_manage'),
    ('role_system_member', 'perm_sys_memberships_read');

INSERT INTO organization_settings (id, enabled, max_allowed_memberships, creator_role, default_role, admin_delete_enabled, updated_at)
    VALUES ('default', TRUE, 5, 'org:admin', 'org:member', TRUE, 0);

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

-- The orgs area's record of users being deleted. Deleting a user writes a
-- row here in the transaction that removes the user's memberships; adding a
-- membership checks it in the transaction that inserts the membership, so a
-- request that found the user just before the deletion cannot add a
-- membership after it (both transactions hold the same per-user lock on
-- PostgreSQL; SQLite's BEGIN IMMEDIATE serialises them). The orgs area
-- never reads the users tables, which may live in another database. Rows
-- older than a day are removed by later deletions: by then no request that
-- found the user can still be running.
CREATE TABLE organization_deleted_users (
    user_id TEXT PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);

CREATE INDEX organization_deleted_users_time_idx ON organization_deleted_users (deleted_at);
