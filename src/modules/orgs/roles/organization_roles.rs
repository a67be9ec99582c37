//! Organization roles (Backend API `/v1/organization_roles`): list, get,
//! create, update, delete, and granting or revoking a role's permissions.
//! A change to what a role grants pushes its holders' new token claims.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{key, name, permission_object, role_holders_changed, system_immutable};
use crate::crypto::ids::new_id;
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode};
use crate::ids::{PermissionIdOrKey, RoleIdOrKey};
use crate::modules::orgs::claims;
use crate::modules::orgs::list::{self, RoleSearch};
use crate::modules::orgs::model::{RoleObject, RoleRow};
use crate::modules::orgs::push::deliver_soon;
use crate::modules::orgs::service::{self, pool};
use crate::modules::orgs::store::{self, SettingsRow};
use crate::state::AppState;
use crate::time::now_ms;

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
            || claims::role_has_permission(conn, &role.role_key, service::MANAGE_MEMBERS)?,
        id: role.id,
        key: role.role_key,
        name: role.name,
        description: role.description,
        permissions,
        created_at: role.created_at,
        updated_at: role.updated_at,
    })
}

/// `GET /v1/organization_roles`.
pub async fn list_roles(
    state: &AppState,
    search: RoleSearch,
) -> Result<(Vec<RoleObject>, i64), ApiError> {
    pool(state)
        .run("orgs.list_roles", move |conn| {
            let settings = store::load_settings(conn)?;
            let (rows, total) = list::list_roles(conn, &search)?;
            let mut objects = Vec::new();
            for role in rows {
                objects.push(role_object(conn, role, &settings)?);
            }
            Ok((objects, total))
        })
        .await
}

/// `GET /v1/organization_roles/{id}`.
pub async fn get_role(state: &AppState, id: RoleIdOrKey) -> Result<RoleObject, ApiError> {
    pool(state)
        .run("orgs.get_role", move |conn| {
            let settings = store::load_settings(conn)?;
            let role =
                store::find_role(conn, id.as_str())?.ok_or_else(|| ApiError::not_found("role"))?;
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
    id: RoleIdOrKey,
    input: RoleInput,
) -> Result<RoleObject, ApiError> {
    let new_name = input.name.clone().map(|n| name(Some(n))).transpose()?;
    let new_key = input.key.as_deref().map(|k| key("key", k, 2)).transpose()?;
    let role = pool(state)
        .run("orgs.update_role", move |conn| {
            let (input, new_key, new_name) = (input.clone(), new_key.clone(), new_name.clone());
            write_transaction(conn, |conn| {
                let mut role = store::find_role(conn, id.as_str())?
                    .ok_or_else(|| ApiError::not_found("role"))?;
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
                role_holders_changed(conn, std::slice::from_ref(&role.role_key))?;
                let settings = store::load_settings(conn)?;
                role_object(conn, role, &settings)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(role)
}

/// `DELETE /v1/organization_roles/{id}`: not a system role, not in use.
pub async fn delete_role(state: &AppState, id: RoleIdOrKey) -> Result<Value, ApiError> {
    pool(state)
        .run("orgs.delete_role", move |conn| {
            write_transaction(conn, |conn| {
                let role = store::find_role(conn, id.as_str())?
                    .ok_or_else(|| ApiError::not_found("role"))?;
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
    role_id: RoleIdOrKey,
    permission_id: PermissionIdOrKey,
    grant: bool,
) -> Result<RoleObject, ApiError> {
    let role = pool(state)
        .run("orgs.role_permission", move |conn| {
            write_transaction(conn, |conn| {
                let role = store::find_role(conn, role_id.as_str())?
                    .ok_or_else(|| ApiError::not_found("role"))?;
                if role.is_system {
                    return Err(system_immutable("role"));
                }
                let permission = store::find_permission(conn, permission_id.as_str())?
                    .ok_or_else(|| ApiError::not_found("permission"))?;
                if grant {
                    store::grant(conn, &role.id, &permission.id)?;
                } else {
                    store::revoke(conn, &role.id, &permission.id)?;
                }
                role_holders_changed(conn, std::slice::from_ref(&role.role_key))?;
                let settings = store::load_settings(conn)?;
                role_object(conn, role, &settings)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(role)
}
