-- Clerk's system permissions for an organization's billing: admins read
-- and manage it (subscribe, change cards, cancel).
INSERT INTO organization_permissions (id, permission_key, name, description, is_system, created_at, updated_at) VALUES
    ('perm_sys_billing_read', 'org:sys_billing:read', 'Read billing', 'See the organization''s subscription, payment methods and statements.', TRUE, 0, 0),
    ('perm_sys_billing_manage', 'org:sys_billing:manage', 'Manage billing', 'Subscribe the organization to plans and manage its payment methods.', TRUE, 0, 0);
INSERT INTO organization_role_permissions (role_id, permission_id) VALUES
    ('role_system_admin', 'perm_sys_billing_read'),
    ('role_system_admin', 'perm_sys_billing_manage');
