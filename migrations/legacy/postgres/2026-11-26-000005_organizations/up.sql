-- Organizations, memberships, roles and permissions.

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
