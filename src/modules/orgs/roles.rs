//! Organization roles and permissions (Backend API `/v1/organization_roles`,
//! `/v1/organization_permissions`) and the instance's organization settings.
//! System roles and permissions (Clerk's defaults) cannot be changed or
//! deleted. A change to what a role grants refreshes the token claims of
//! every member holding it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::model::{RoleObject, RoleRow};
use super::service::pool;
use super::store::{self, PermissionRow, SettingsRow};
use crate::crypto::ids::new_id;
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::modules::session;
use crate::state::AppState;
use crate::time::now_ms;

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

fn role_object(
    conn: &mut DbConnection,
    role: RoleRow,
    settings: &SettingsRow,
) -> Result<RoleObject, ApiError> {
    let permissions = store::permissions_of_role(conn, &role.id)?
        .into_iter()
        .map(permission_object)
        .collect();
    Ok(RoleObject {
        object: "role",
        is_creator_eligible: role.role_key == settings.creator_role
            || super::claims::role_has_permission(
                conn,
                &role.role_key,
                super::service::MANAGE_MEMBERS,
            )?,
        id: role.id,
        key: role.role_key,
        name: role.name,
        description: role.description,
        permissions,
        created_at: role.created_at,
        updated_at: role.updated_at,
    })
}

fn permission_object(row: PermissionRow) -> Value {
    json!({
        "object": "permission",
        "id": row.id,
        "key": row.permission_key,
        "name": row.name,
        "description": row.description,
        "type": if row.is_system { "system" } else { "user" },
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

/// `GET /v1/organization_roles`.
pub async fn list_roles(
    state: &AppState,
    page: Pagination,
) -> Result<(Vec<RoleObject>, i64), ApiError> {
    pool(state)
        .run("orgs.list_roles", move |conn| {
            let settings = store::load_settings(conn)?;
            let mut objects = Vec::new();
            for role in store::list_roles(conn, page)? {
                objects.push(role_object(conn, role, &settings)?);
            }
            Ok((objects, store::count_roles(conn)?))
        })
        .await
}

/// `GET /v1/organization_roles/{id}`.
pub async fn get_role(state: &AppState, id: String) -> Result<RoleObject, ApiError> {
    pool(state)
        .run("orgs.get_role", move |conn| {
            let settings = store::load_settings(conn)?;
            let role = store::find_role(conn, &id)?.ok_or_else(|| ApiError::not_found("role"))?;
            role_object(conn, role, &settings)
        })
        .await
}

/// `POST` / `PATCH /v1/organization_roles` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleInput {
    pub name: Option<String>,
    pub key: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn permission_ids(
    conn: &mut DbConnection,
    keys_or_ids: &[String],
) -> Result<Vec<String>, ApiError> {
    keys_or_ids
        .iter()
        .map(|k| {
            store::find_permission(conn, k)?
                .map(|p| p.id)
                .ok_or_else(|| {
                    ApiError::param_value(
                        "permissions",
                        format!("The permission {k} does not exist."),
                    )
                })
        })
        .collect()
}

/// `POST /v1/organization_roles`.
pub async fn create_role(state: &AppState, input: RoleInput) -> Result<RoleObject, ApiError> {
    let name = name(input.name.clone())?;
    let role_key = key("key", input.key.as_deref().unwrap_or_default(), 2)?;
    pool(state)
        .run("orgs.create_role", move |conn| {
            let (input, name, role_key) = (input.clone(), name.clone(), role_key.clone());
            write_transaction(conn, |conn| {
                if store::find_role(conn, &role_key)?.is_some() {
                    return Err(ApiError::identifier_exists("key", "role key"));
                }
                let permissions = permission_ids(conn, &input.permissions.unwrap_or_default())?;
                let now = now_ms();
                let role = RoleRow {
                    id: new_id("role"),
                    role_key,
                    name,
                    description: input.description,
                    is_system: false,
                    created_at: now,
                    updated_at: now,
                };
                store::insert_role(conn, &role)?;
                for permission in permissions {
                    store::grant(conn, &role.id, &permission)?;
                }
                let settings = store::load_settings(conn)?;
                role_object(conn, role, &settings)
            })
        })
        .await
}

/// `PATCH /v1/organization_roles/{id}`: name, description and (replacing)
/// permissions; the key of a role in use cannot change.
pub async fn update_role(
    state: &AppState,
    id: String,
    input: RoleInput,
) -> Result<RoleObject, ApiError> {
    let new_name = input.name.clone().map(|n| name(Some(n))).transpose()?;
    let new_key = input.key.as_deref().map(|k| key("key", k, 2)).transpose()?;
    let role = pool(state)
        .run("orgs.update_role", move |conn| {
            let (input, new_key, new_name) = (input.clone(), new_key.clone(), new_name.clone());
            write_transaction(conn, |conn| {
                let mut role =
                    store::find_role(conn, &id)?.ok_or_else(|| ApiError::not_found("role"))?;
                if role.is_system {
                    return Err(system_immutable("role"));
                }
                if let Some(new_key) = new_key.filter(|k| *k != role.role_key) {
                    if store::role_in_use(conn, &role.role_key)? {
                        return Err(ApiError::param_value(
                            "key",
                            "The key of a role that members hold cannot change.",
                        ));
                    }
                    if store::find_role(conn, &new_key)?.is_some() {
                        return Err(ApiError::identifier_exists("key", "role key"));
                    }
                    role.role_key = new_key;
                }
                if let Some(name) = new_name {
                    role.name = name;
                }
                if input.description.is_some() {
                    role.description = input.description;
                }
                if let Some(keys) = input.permissions {
                    let wanted = permission_ids(conn, &keys)?;
                    for current in store::permissions_of_role(conn, &role.id)? {
                        store::revoke(conn, &role.id, &current.id)?;
                    }
                    for permission in wanted {
                        store::grant(conn, &role.id, &permission)?;
                    }
                }
                role.updated_at = now_ms();
                store::save_role(conn, &role)?;
                let settings = store::load_settings(conn)?;
                role_object(conn, role, &settings)
            })
        })
        .await?;
    refresh_role_holders(state, vec![role.key.clone()]).await?;
    Ok(role)
}

/// `DELETE /v1/organization_roles/{id}`: not a system role, not in use.
pub async fn delete_role(state: &AppState, id: String) -> Result<Value, ApiError> {
    pool(state)
        .run("orgs.delete_role", move |conn| {
            write_transaction(conn, |conn| {
                let role =
                    store::find_role(conn, &id)?.ok_or_else(|| ApiError::not_found("role"))?;
                if role.is_system {
                    return Err(system_immutable("role"));
                }
                let settings = store::load_settings(conn)?;
                if store::role_in_use(conn, &role.role_key)?
                    || settings.creator_role == role.role_key
                    || settings.default_role == role.role_key
                {
                    return Err(ApiError::new(
                        ErrorCode::ActionNotAllowed,
                        "Role in use",
                        "Members hold this role, or the organization settings name it.",
                    ));
                }
                store::delete_role(conn, &role.id)?;
                Ok(json!({ "object": "role", "id": role.id, "deleted": true }))
            })
        })
        .await
}

/// Assigns (`grant = true`) or removes a permission of a role.
pub async fn set_role_permission(
    state: &AppState,
    role_id: String,
    permission_id: String,
    grant: bool,
) -> Result<RoleObject, ApiError> {
    let role = pool(state)
        .run("orgs.role_permission", move |conn| {
            write_transaction(conn, |conn| {
                let role =
                    store::find_role(conn, &role_id)?.ok_or_else(|| ApiError::not_found("role"))?;
                if role.is_system {
                    return Err(system_immutable("role"));
                }
                let permission = store::find_permission(conn, &permission_id)?
                    .ok_or_else(|| ApiError::not_found("permission"))?;
                if grant {
                    store::grant(conn, &role.id, &permission.id)?;
                } else {
                    store::revoke(conn, &role.id, &permission.id)?;
                }
                let settings = store::load_settings(conn)?;
                role_object(conn, role, &settings)
            })
        })
        .await?;
    refresh_role_holders(state, vec![role.key.clone()]).await?;
    Ok(role)
}

/// Refreshes the token claims of every member holding one of `role_keys`.
async fn refresh_role_holders(state: &AppState, role_keys: Vec<String>) -> Result<(), ApiError> {
    let holders = pool(state)
        .run("orgs.role_holders", move |conn| {
            store::memberships_with_roles(conn, &role_keys).map_err(ApiError::from)
        })
        .await?;
    for membership in holders {
        session::service::refresh_organization_claims(
            state,
            membership.user_id,
            membership.organization_id,
        )
        .await?;
    }
    Ok(())
}

/// `GET /v1/organization_permissions`.
pub async fn list_permissions(
    state: &AppState,
    page: Pagination,
) -> Result<(Vec<Value>, i64), ApiError> {
    pool(state)
        .run("orgs.list_permissions", move |conn| {
            let rows = store::list_permissions(conn, page)?;
            Ok((
                rows.into_iter().map(permission_object).collect(),
                store::count_permissions(conn)?,
            ))
        })
        .await
}

/// `GET /v1/organization_permissions/{id}`.
pub async fn get_permission(state: &AppState, id: String) -> Result<Value, ApiError> {
    pool(state)
        .run("orgs.get_permission", move |conn| {
            store::find_permission(conn, &id)?
                .map(permission_object)
                .ok_or_else(|| ApiError::not_found("permission"))
        })
        .await
}

/// `POST` / `PATCH /v1/organization_permissions` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PermissionInput {
    pub name: Option<String>,
    pub key: Option<String>,
    pub description: Option<String>,
}

/// `POST /v1/organization_permissions`.
pub async fn create_permission(
    state: &AppState,
    input: PermissionInput,
) -> Result<Value, ApiError> {
    let name = name(input.name.clone())?;
    let permission_key = key("key", input.key.as_deref().unwrap_or_default(), 3)?;
    pool(state)
        .run("orgs.create_permission", move |conn| {
            let (input, name, permission_key) =
                (input.clone(), name.clone(), permission_key.clone());
            write_transaction(conn, |conn| {
                if store::find_permission(conn, &permission_key)?.is_some() {
                    return Err(ApiError::identifier_exists("key", "permission key"));
                }
                let now = now_ms();
                let row = PermissionRow {
                    id: new_id("perm"),
                    permission_key,
                    name,
                    description: input.description,
                    is_system: false,
                    created_at: now,
                    updated_at: now,
                };
                store::insert_permission(conn, &row)?;
                Ok(permission_object(row))
            })
        })
        .await
}

/// `PATCH /v1/organization_permissions/{id}`: name and description.
pub async fn update_permission(
    state: &AppState,
    id: String,
    input: PermissionInput,
) -> Result<Value, ApiError> {
    let new_name = input.name.clone().map(|n| name(Some(n))).transpose()?;
    if input.key.is_some() {
        return Err(ApiError::param_value(
            "key",
            "A permission's key cannot change; create a new permission.",
        ));
    }
    pool(state)
        .run("orgs.update_permission", move |conn| {
            let (input, new_name) = (input.clone(), new_name.clone());
            let mut row = store::find_permission(conn, &id)?
                .ok_or_else(|| ApiError::not_found("permission"))?;
            if row.is_system {
                return Err(system_immutable("permission"));
            }
            if let Some(name) = new_name {
                row.name = name;
            }
            if input.description.is_some() {
                row.description = input.description;
            }
            row.updated_at = now_ms();
            store::save_permission(conn, &row)?;
            Ok(permission_object(row))
        })
        .await
}

/// `DELETE /v1/organization_permissions/{id}`: roles granting it lose it.
pub async fn delete_permission(state: &AppState, id: String) -> Result<Value, ApiError> {
    let (deleted, role_keys) = pool(state)
        .run("orgs.delete_permission", move |conn| {
            write_transaction(conn, |conn| {
                let row = store::find_permission(conn, &id)?
                    .ok_or_else(|| ApiError::not_found("permission"))?;
                if row.is_system {
                    return Err(system_immutable("permission"));
                }
                let roles = store::roles_with_permission(conn, &row.id)?;
                store::delete_permission(conn, &row.id)?;
                Ok((
                    json!({ "object": "permission", "id": row.id, "deleted": true }),
                    roles,
                ))
            })
        })
        .await?;
    refresh_role_holders(state, role_keys).await?;
    Ok(deleted)
}

/// Clerk's `organization_settings` object.
pub fn settings_object(row: &SettingsRow) -> Value {
    json!({
        "object": "organization_settings",
        "enabled": row.enabled,
        "max_allowed_memberships": row.max_allowed_memberships,
        "max_allowed_roles": 50,
        "max_allowed_domains": 0,
        "creator_role": row.creator_role,
        "domains_default_role": row.default_role,
        "admin_delete_enabled": row.admin_delete_enabled,
        "domains_enabled": false,
        "domains_enrollment_modes": [],
        "slug_disabled": false,
    })
}

/// `PATCH /v1/instance/organization_settings` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsInput {
    pub enabled: Option<bool>,
    pub max_allowed_memberships: Option<i32>,
    pub creator_role_id: Option<String>,
    pub domains_default_role_id: Option<String>,
    pub admin_delete_enabled: Option<bool>,
}

/// `PATCH /v1/instance/organization_settings`.
pub async fn update_settings(state: &AppState, input: SettingsInput) -> Result<Value, ApiError> {
    if let Some(max) = input.max_allowed_memberships {
        if !(0..=100_000).contains(&max) {
            return Err(ApiError::param_value(
                "max_allowed_memberships",
                "max_allowed_memberships must be between 0 (no limit) and 100000.",
            ));
        }
    }
    pool(state)
        .run("orgs.update_settings", move |conn| {
            let input = input.clone();
            write_transaction(conn, |conn| {
                let mut row = store::load_settings(conn)?;
                if let Some(role) = input.creator_role_id {
                    let role = store::find_role(conn, &role)?.ok_or_else(|| {
                        ApiError::param_value("creator_role_id", "This role does not exist.")
                    })?;
                    if !super::claims::role_has_permission(
                        conn,
                        &role.role_key,
                        super::service::MANAGE_MEMBERS,
                    )? {
                        return Err(ApiError::param_value(
                            "creator_role_id",
                            "The creator role must be able to manage members.",
                        ));
                    }
                    row.creator_role = role.role_key;
                }
                if let Some(role) = input.domains_default_role_id {
                    let role = store::find_role(conn, &role)?.ok_or_else(|| {
                        ApiError::param_value(
                            "domains_default_role_id",
                            "This role does not exist.",
                        )
                    })?;
                    row.default_role = role.role_key;
                }
                if let Some(enabled) = input.enabled {
                    row.enabled = enabled;
                }
                if let Some(max) = input.max_allowed_memberships {
                    row.max_allowed_memberships = max;
                }
                if let Some(enabled) = input.admin_delete_enabled {
                    row.admin_delete_enabled = enabled;
                }
                row.updated_at = now_ms();
                store::save_settings(conn, &row)?;
                Ok(settings_object(&row))
            })
        })
        .await
}
