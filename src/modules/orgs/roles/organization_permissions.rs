//! Organization permissions (Backend API `/v1/organization_permissions`):
//! list, get, create, update, delete. System permissions cannot change;
//! deleting a permission pushes the new token claims of every member
//! holding a role that had it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{key, name, permission_object, role_holders_changed, system_immutable};
use crate::crypto::ids::new_id;
use crate::db::write_transaction;
use crate::http::ApiError;
use crate::ids::PermissionIdOrKey;
use crate::modules::orgs::list::{self, RoleSearch};
use crate::modules::orgs::push::deliver_soon;
use crate::modules::orgs::service::pool;
use crate::modules::orgs::store::{self, PermissionRow};
use crate::state::AppState;
use crate::time::now_ms;

/// `GET /v1/organization_permissions`.
pub async fn list_permissions(
    state: &AppState,
    search: RoleSearch,
) -> Result<(Vec<Value>, i64), ApiError> {
    pool(state)
        .run("orgs.list_permissions", move |conn| {
            let (rows, total) = list::list_permissions(conn, &search)?;
            Ok::<_, ApiError>((rows.into_iter().map(permission_object).collect(), total))
        })
        .await
}

/// `GET /v1/organization_permissions/{id}`.
pub async fn get_permission(state: &AppState, id: PermissionIdOrKey) -> Result<Value, ApiError> {
    pool(state)
        .run("orgs.get_permission", move |conn| {
            store::find_permission(conn, id.as_str())?
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
    id: PermissionIdOrKey,
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
            let mut row = store::find_permission(conn, id.as_str())?
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
pub async fn delete_permission(state: &AppState, id: PermissionIdOrKey) -> Result<Value, ApiError> {
    let deleted = pool(state)
        .run("orgs.delete_permission", move |conn| {
            write_transaction(conn, |conn| {
                let row = store::find_permission(conn, id.as_str())?
                    .ok_or_else(|| ApiError::not_found("permission"))?;
                if row.is_system {
                    return Err(system_immutable("permission"));
                }
                let roles = store::roles_with_permission(conn, &row.id)?;
                store::delete_permission(conn, &row.id)?;
                role_holders_changed(conn, &roles)?;
                Ok(json!({ "object": "permission", "id": row.id, "deleted": true }))
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(deleted)
}
