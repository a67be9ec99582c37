//! The instance's organization settings (Backend API
//! `/v1/instance/organization_settings`): Clerk's settings object and the
//! update, which checks that the roles it names exist (and that the
//! creator role can manage members).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::db::write_transaction;
use crate::http::ApiError;
use crate::modules::orgs::claims;
use crate::modules::orgs::service::{self, pool};
use crate::modules::orgs::store::{self, SettingsRow};
use crate::state::AppState;
use crate::time::now_ms;

/// Clerk's `organization_settings` object. `max_allowed_permissions` is
/// deprecated and a no-op in Clerk (permissions are unlimited) but its SDK
/// still reads it: 0 is Clerk's "no limit", as for memberships.
pub fn settings_object(row: &SettingsRow) -> Value {
    json!({
        "object": "organization_settings",
        "enabled": row.enabled,
        "max_allowed_memberships": row.max_allowed_memberships,
        "max_allowed_roles": 50,
        "max_allowed_permissions": 0,
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
                    if !claims::role_has_permission(conn, &role.role_key, service::MANAGE_MEMBERS)?
                    {
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
