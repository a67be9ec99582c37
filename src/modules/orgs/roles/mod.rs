//! Organization roles and permissions (Backend API `/v1/organization_roles`,
//! `/v1/organization_permissions`) and the instance's organization settings.
//! System roles and permissions (Clerk's defaults) cannot be changed or
//! deleted. A change to what a role grants writes the new token claims of
//! every member holding it to the outbox, in the change's transaction.
//!
//! This file holds what the three resources share: name and key checks,
//! the permission object, and the claims push after a role changes.
//! The operations live in one file per Backend API resource:
//! `organization_roles.rs`, `organization_permissions.rs` and
//! `organization_settings.rs`.

use serde_json::{json, Value};

use super::push;
use super::store::PermissionRow;
use crate::db::DbConnection;
use crate::http::{ApiError, ErrorCode};

mod organization_permissions;
mod organization_roles;
mod organization_settings;

pub use organization_permissions::{
    create_permission, delete_permission, get_permission, list_permissions, update_permission,
    PermissionInput,
};
pub use organization_roles::{
    create_role, delete_role, get_role, list_roles, set_role_permission, update_role, RoleInput,
};
pub use organization_settings::{settings_object, update_settings, SettingsInput};

/// Longest role or permission name or key.
const MAX_LEN: usize = 64;

fn system_immutable(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ActionNotAllowed,
        format!("System {what}s cannot be changed"),
        format!("This is a system {what}; it cannot be changed or deleted."),
    )
}

/// Checks a role key (`org:<name>`) or permission key (`org:<feature>:<action>`).
fn key(param: &str, raw: &str, parts: usize) -> Result<String, ApiError> {
    let valid = raw.len() <= MAX_LEN
        && raw.starts_with("org:")
        && raw.split(':').count() == parts
        && raw.split(':').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        && !raw.starts_with("org:sys_");
    if !valid {
        let shape = if parts == 2 {
            "org:<name>"
        } else {
            "org:<feature>:<action>"
        };
        return Err(ApiError::param_format(
            param,
            format!("{param} must look like {shape} (lowercase letters, digits, '_'; not sys_)."),
        ));
    }
    Ok(raw.to_owned())
}

fn name(raw: Option<String>) -> Result<String, ApiError> {
    let name = raw
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::param_missing("name"))?;
    if name.chars().count() > MAX_LEN {
        return Err(ApiError::param_too_long("name", MAX_LEN));
    }
    Ok(name)
}

/// Clerk's `permission` object. Its schema requires a string description,
/// so a permission created without one has `""`.
fn permission_object(row: PermissionRow) -> Value {
    json!({
        "object": "permission",
        "id": row.id,
        "key": row.permission_key,
        "name": row.name,
        "description": row.description.unwrap_or_default(),
        "type": if row.is_system { "system" } else { "user" },
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

/// Writes, in the caller's transaction, the claims of every member holding
/// one of `role_keys` (see `push`).
fn role_holders_changed(conn: &mut DbConnection, role_keys: &[String]) -> Result<(), ApiError> {
    push::role_holders_changed(conn, role_keys)
}
