DROP TABLE organization_settings;
DROP TABLE organization_role_permissions;
DROP TABLE organization_permissions;
DROP TABLE organization_roles;
DROP TABLE organization_memberships;
DROP TABLE organizations;
