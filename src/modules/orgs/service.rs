//! Organizations and memberships. Every change that can alter a member's
//! token claims (membership, role, slug, deletion) writes the new claims to
//! the outbox in its own transaction (see `push`), from which the session
//! area's copy is kept; the next token shows it once delivered.

use serde::Deserialize;
use serde_json::{json, Map, Value};

pub use super::list::member_user_ids;
pub use super::memberships::{
    add_member, change_role, list_memberships, member_with_permission, membership,
    membership_metadata, membership_objects, remove_deleted_user, remove_member, CreateMembership,
};
pub(super) use super::memberships::{ensure_role_exists, ensure_room, insert_member};
pub use super::model::MembershipRow;
use super::model::OrganizationRow;
pub use super::push::BACKFILL as SESSION_CLAIMS_BACKFILL;
use super::push::{self, deliver_soon};
use super::slug;
use super::store::{self, MembershipFilter, SettingsRow};
use crate::crypto::ids::new_id;
use crate::db::{write_transaction, DbConnection, DbPool};
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::ids::{OrgIdOrSlug, UserId};
use crate::metadata;
use crate::modules::{users, Module};
use crate::state::AppState;
use crate::time::now_ms;

/// The permission that makes a member an administrator of the organization.
pub const MANAGE_MEMBERS: &str = "org:sys_memberships:manage";
/// Longest organization name.
const MAX_NAME_LEN: usize = 256;

pub(super) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Orgs).clone()
}

/// The organization `id_or_slug`, or 404.
pub(super) fn load_org(
    conn: &mut DbConnection,
    id_or_slug: &str,
) -> Result<OrganizationRow, ApiError> {
    store::find_org(conn, id_or_slug)?.ok_or_else(|| ApiError::not_found("organization"))
}

/// The organization `id_or_slug`, locked for the rest of the transaction
/// (see [`store::lock_org`]), or 404.
pub(super) fn lock_org(
    conn: &mut DbConnection,
    id_or_slug: &str,
) -> Result<OrganizationRow, ApiError> {
    store::lock_org(conn, id_or_slug)?.ok_or_else(|| ApiError::not_found("organization"))
}

fn org_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::param_missing("name"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::param_too_long("name", MAX_NAME_LEN));
    }
    Ok(name.to_owned())
}

/// `POST /v1/organizations` (Backend API) parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CreateOrganization {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub created_by: Option<String>,
    pub max_allowed_memberships: Option<i32>,
    pub public_metadata: Option<Value>,
    pub private_metadata: Option<Value>,
}

fn max_memberships(value: Option<i32>, settings: &SettingsRow) -> Result<i32, ApiError> {
    let value = value.unwrap_or(settings.max_allowed_memberships);
    if !(0..=100_000).contains(&value) {
        return Err(ApiError::param_value(
            "max_allowed_memberships",
            "max_allowed_memberships must be between 0 (no limit) and 100000.",
        ));
    }
    Ok(value)
}

/// Creates an organization; `created_by`, when given, becomes its first
/// member with the instance's creator role.
///
/// The slug check reads before it writes, so two concurrent creates can
/// both find a slug free; the unique index on `slug` then refuses the
/// second insert, which answers like the check (`form_identifier_exists`).
/// A slug generated from the name that lost such a race is generated
/// again, with the winner's slug now taken.
pub async fn create(
    state: &AppState,
    input: CreateOrganization,
) -> Result<OrganizationRow, ApiError> {
    let generated_slug = input.slug.as_deref().is_none_or(str::is_empty);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match try_create(state, &input).await {
            Err(error)
                if generated_slug
                    && attempts < 3
                    && error.code() == ErrorCode::FormIdentifierExists =>
            {
                continue
            }
            outcome => return outcome,
        }
    }
}

async fn try_create(
    state: &AppState,
    input: &CreateOrganization,
) -> Result<OrganizationRow, ApiError> {
    let name = org_name(input.name.as_deref().unwrap_or_default())?;
    let wanted_slug = input
        .slug
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(slug::validate)
        .transpose()?;
    let public_metadata =
        metadata::metadata_text("public_metadata", input.public_metadata.clone())?;
    let private_metadata =
        metadata::metadata_text("private_metadata", input.private_metadata.clone())?;
    let creator = match input.created_by.clone().filter(|c| !c.is_empty()) {
        Some(user_id) => {
            let user = users::service::frontend_user(state, UserId::from(user_id.clone())).await?;
            user.ok_or_else(|| ApiError::not_found("user").with_param("created_by"))?;
            Some(user_id)
        }
        None => None,
    };
    let max_input = input.max_allowed_memberships;
    let org = pool(state)
        .run("orgs.create", move |conn| {
            let (creator, name, private_metadata, public_metadata, wanted_slug) = (
                creator.clone(),
                name.clone(),
                private_metadata.clone(),
                public_metadata.clone(),
                wanted_slug.clone(),
            );
            write_transaction(conn, |conn| {
                let settings = store::load_settings(conn)?;
                if !settings.enabled {
                    return Err(organizations_disabled());
                }
                let slug = match wanted_slug {
                    Some(slug) => {
                        if store::slug_taken(conn, &slug, "")? {
                            return Err(slug_taken());
                        }
                        slug
                    }
                    None => slug::unique_from_name(conn, &name)?,
                };
                let now = now_ms();
                let org = OrganizationRow {
                    id: new_id("org"),
                    name,
                    slug,
                    max_allowed_memberships: max_memberships(max_input, &settings)?,
                    admin_delete_enabled: settings.admin_delete_enabled,
                    public_metadata,
                    private_metadata,
                    created_by: creator.clone(),
                    created_at: now,
                    updated_at: now,
                };
                store::insert_org(conn, &org).map_err(slug_conflict)?;
                if let Some(user_id) = creator {
                    insert_member(
                        conn,
                        &new_membership(&org.id, &user_id, &settings.creator_role, now),
                        Some("created_by"),
                    )?;
                }
                Ok(org)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(org)
}

pub(super) fn new_membership(org_id: &str, user_id: &str, role: &str, now: i64) -> MembershipRow {
    MembershipRow {
        id: new_id("orgmem"),
        organization_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        role: role.to_owned(),
        public_metadata: "{}".to_owned(),
        private_metadata: "{}".to_owned(),
        created_at: now,
        updated_at: now,
    }
}

fn organizations_disabled() -> ApiError {
    ApiError::new(
        ErrorCode::ActionNotAllowed,
        "Organizations are disabled",
        "Organizations are not enabled on this instance.",
    )
}

/// A unique violation on `organizations` (whose only unique key besides
/// the random id is the slug) means a concurrent change took the slug.
fn slug_conflict(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => slug_taken(),
        other => ApiError::from(other),
    }
}

fn slug_taken() -> ApiError {
    ApiError::new(
        ErrorCode::FormIdentifierExists,
        "That slug is taken. Please try another.",
        "That slug is taken. Please try another.",
    )
    .with_param("slug")
}

/// One organization with its member count.
pub async fn get(
    state: &AppState,
    id_or_slug: OrgIdOrSlug,
) -> Result<(OrganizationRow, i64), ApiError> {
    pool(state)
        .run("orgs.get", move |conn| {
            let org = load_org(conn, id_or_slug.as_str())?;
            let count = store::members_count(conn, &org.id)?;
            Ok((org, count))
        })
        .await
}

/// `PATCH /v1/organizations/{id}` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateOrganization {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub max_allowed_memberships: Option<i32>,
    pub admin_delete_enabled: Option<bool>,
}

/// Updates an organization; a new slug pushes the members' new token claims.
pub async fn update(
    state: &AppState,
    id_or_slug: OrgIdOrSlug,
    input: UpdateOrganization,
) -> Result<OrganizationRow, ApiError> {
    let name = input.name.as_deref().map(org_name).transpose()?;
    let new_slug = input.slug.as_deref().map(slug::validate).transpose()?;
    if let Some(max) = input.max_allowed_memberships {
        if !(0..=100_000).contains(&max) {
            return Err(ApiError::param_value(
                "max_allowed_memberships",
                "max_allowed_memberships must be between 0 (no limit) and 100000.",
            ));
        }
    }
    let slug_changed = new_slug.is_some();
    let org = modify_org(
        state,
        "orgs.update",
        id_or_slug,
        slug_changed,
        move |conn, org| {
            let (name, new_slug) = (name.clone(), new_slug.clone());
            if let Some(slug) = new_slug {
                if store::slug_taken(conn, &slug, &org.id)? {
                    return Err(slug_taken());
                }
                org.slug = slug;
            }
            if let Some(name) = name {
                org.name = name;
            }
            if let Some(max) = input.max_allowed_memberships {
                org.max_allowed_memberships = max;
            }
            if let Some(enabled) = input.admin_delete_enabled {
                org.admin_delete_enabled = enabled;
            }
            Ok(())
        },
    )
    .await?;
    if slug_changed {
        deliver_soon(state).await;
    }
    Ok(org)
}

/// Loads, changes and saves an organization in one transaction; with
/// `claims_changed`, the members' new claims go to the outbox with it.
async fn modify_org<F>(
    state: &AppState,
    query: &'static str,
    id_or_slug: OrgIdOrSlug,
    claims_changed: bool,
    change: F,
) -> Result<OrganizationRow, ApiError>
where
    F: Fn(&mut DbConnection, &mut OrganizationRow) -> Result<(), ApiError> + Send + Sync + 'static,
{
    pool(state)
        .run(query, move |conn| {
            write_transaction(conn, |conn| {
                let mut org = load_org(conn, id_or_slug.as_str())?;
                change(conn, &mut org)?;
                org.updated_at = now_ms();
                store::save_org(conn, &org).map_err(slug_conflict)?;
                if claims_changed {
                    push::members_changed(conn, &org.id)?;
                }
                Ok(org)
            })
        })
        .await
}

/// Merges (`replace = false`) or replaces the organization's metadata.
pub async fn set_metadata(
    state: &AppState,
    id_or_slug: OrgIdOrSlug,
    public: Option<Value>,
    private: Option<Value>,
    replace: bool,
) -> Result<OrganizationRow, ApiError> {
    let public = public
        .map(|v| metadata::metadata_object("public_metadata", v))
        .transpose()?;
    let private = private
        .map(|v| metadata::metadata_object("private_metadata", v))
        .transpose()?;
    modify_org(
        state,
        "orgs.metadata",
        id_or_slug,
        false,
        move |_conn, org| {
            let (private, public) = (private.clone(), public.clone());
            apply_metadata(&mut org.public_metadata, "public_metadata", public, replace)?;
            apply_metadata(
                &mut org.private_metadata,
                "private_metadata",
                private,
                replace,
            )
        },
    )
    .await
}

/// Replaces or deep-merges one stored metadata object.
pub(super) fn apply_metadata(
    column: &mut String,
    param: &str,
    patch: Option<Map<String, Value>>,
    replace: bool,
) -> Result<(), ApiError> {
    let Some(patch) = patch else { return Ok(()) };
    let mut target = if replace {
        Map::new()
    } else {
        match metadata::parse_metadata(column) {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    };
    metadata::merge_metadata(&mut target, patch);
    metadata::check_metadata_size(param, &target)?;
    *column = Value::Object(target).to_string();
    Ok(())
}

/// Deletes an organization; its members' sessions lose it as active.
pub async fn delete(state: &AppState, id_or_slug: OrgIdOrSlug) -> Result<Value, ApiError> {
    let org = pool(state)
        .run("orgs.delete", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, id_or_slug.as_str())?;
                let members = store::list_memberships(
                    conn,
                    &MembershipFilter {
                        organization_id: Some(org.id.clone()),
                        ..MembershipFilter::default()
                    },
                    Pagination {
                        limit: i64::MAX,
                        offset: 0,
                    },
                )?;
                store::delete_org(conn, &org.id)?;
                push::claims_changed(
                    conn,
                    members
                        .into_iter()
                        .map(|m| (m.user_id, m.organization_id))
                        .collect(),
                )?;
                Ok::<_, ApiError>(org)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(json!({ "object": "organization", "id": org.id, "slug": org.slug, "deleted": true }))
}

/// The instance's organization settings.
pub async fn settings(state: &AppState) -> Result<SettingsRow, ApiError> {
    pool(state)
        .run("orgs.settings", |conn| {
            store::load_settings(conn).map_err(ApiError::from)
        })
        .await
}
