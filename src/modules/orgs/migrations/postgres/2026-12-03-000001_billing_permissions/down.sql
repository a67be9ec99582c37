DELETE FROM organization_role_permissions WHERE permission_id IN ('perm_sys_billing_read', 'perm_sys_billing_manage');
DELETE FROM organization_permissions WHERE id IN ('perm_sys_billing_read', 'perm_sys_billing_manage');
