//! Organizations and memberships. Every change that can alter a member's
//! token claims (role, removal, slug, deletion) asks the session service to
//! refresh the claims snapshot of that member's sessions, so the next token
//! shows it.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::model::{MembershipObject, MembershipRow, OrganizationObject, OrganizationRow};
use super::store::{self, MembershipFilter, OrgFilter, SettingsRow};
use super::{claims, slug};
use crate::crypto::ids::new_id;
use crate::db::{write_transaction, DbConnection, DbPool};
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::metadata;
use crate::modules::{session, users, Module};
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
pub async fn create(
    state: &AppState,
    input: CreateOrganization,
) -> Result<OrganizationRow, ApiError> {
    let name = org_name(input.name.as_deref().unwrap_or_default())?;
    let wanted_slug = input
        .slug
        .filter(|s| !s.is_empty())
        .map(|s| slug::validate(&s))
        .transpose()?;
    let public_metadata = metadata::metadata_text("public_metadata", input.public_metadata)?;
    let private_metadata = metadata::metadata_text("private_metadata", input.private_metadata)?;
    let creator = match input.created_by.filter(|c| !c.is_empty()) {
        Some(user_id) => {
            let user = users::service::frontend_user(state, user_id.clone()).await?;
            user.ok_or_else(|| ApiError::not_found("user").with_param("created_by"))?;
            Some(user_id)
        }
        None => None,
    };
    let max_input = input.max_allowed_memberships;
    let org = pool(state)
        .run("orgs.create", move |conn| {
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
                store::insert_org(conn, &org)?;
                if let Some(user_id) = creator {
                    store::insert_membership(
                        conn,
                        &new_membership(&org.id, &user_id, &settings.creator_role, now),
                    )?;
                }
                Ok(org)
            })
        })
        .await?;
    Ok(org)
}

fn new_membership(org_id: &str, user_id: &str, role: &str, now: i64) -> MembershipRow {
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

fn slug_taken() -> ApiError {
    ApiError::new(
        ErrorCode::FormIdentifierExists,
        "That slug is taken. Please try another.",
        "That slug is taken. Please try another.",
    )
    .with_param("slug")
}

/// One organization with its member count.
pub async fn get(state: &AppState, id_or_slug: String) -> Result<(OrganizationRow, i64), ApiError> {
    pool(state)
        .run("orgs.get", move |conn| {
            let org = load_org(conn, &id_or_slug)?;
            let count = store::members_count(conn, &org.id)?;
            Ok((org, count))
        })
        .await
}

/// A page of organizations and the total.
pub async fn list(
    state: &AppState,
    filter: OrgFilter,
    newest_first: bool,
    page: Pagination,
    with_counts: bool,
) -> Result<(Vec<(OrganizationRow, Option<i64>)>, i64), ApiError> {
    pool(state)
        .run("orgs.list", move |conn| {
            let mut rows = Vec::new();
            for org in store::list_orgs(conn, &filter, newest_first, page)? {
                let count = if with_counts {
                    Some(store::members_count(conn, &org.id)?)
                } else {
                    None
                };
                rows.push((org, count));
            }
            Ok::<_, ApiError>((rows, store::count_orgs(conn, &filter)?))
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

/// Updates an organization; a new slug refreshes members' token claims.
pub async fn update(
    state: &AppState,
    id_or_slug: String,
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
    let org = modify_org(state, "orgs.update", id_or_slug, move |conn, org| {
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
    })
    .await?;
    if slug_changed {
        refresh_all_members(state, &org.id).await?;
    }
    Ok(org)
}

async fn modify_org<F>(
    state: &AppState,
    query: &'static str,
    id_or_slug: String,
    change: F,
) -> Result<OrganizationRow, ApiError>
where
    F: FnOnce(&mut DbConnection, &mut OrganizationRow) -> Result<(), ApiError> + Send + 'static,
{
    pool(state)
        .run(query, move |conn| {
            write_transaction(conn, |conn| {
                let mut org = load_org(conn, &id_or_slug)?;
                change(conn, &mut org)?;
                org.updated_at = now_ms();
                store::save_org(conn, &org)?;
                Ok(org)
            })
        })
        .await
}

/// Merges (`replace = false`) or replaces the organization's metadata.
pub async fn set_metadata(
    state: &AppState,
    id: String,
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
    modify_org(state, "orgs.metadata", id, move |_conn, org| {
        apply_metadata(&mut org.public_metadata, "public_metadata", public, replace)?;
        apply_metadata(
            &mut org.private_metadata,
            "private_metadata",
            private,
            replace,
        )
    })
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
pub async fn delete(state: &AppState, id_or_slug: String) -> Result<Value, ApiError> {
    let (org, members) = pool(state)
        .run("orgs.delete", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, &id_or_slug)?;
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
                Ok::<_, ApiError>((org, members))
            })
        })
        .await?;
    for member in members {
        session::service::refresh_organization_claims(state, member.user_id, org.id.clone())
            .await?;
    }
    Ok(json!({ "object": "organization", "id": org.id, "slug": org.slug, "deleted": true }))
}

/// `POST /v1/organizations/{id}/memberships` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CreateMembership {
    pub user_id: Option<String>,
    pub role: Option<String>,
    pub public_metadata: Option<Value>,
    pub private_metadata: Option<Value>,
}

/// Adds a member, within the organization's membership limit.
pub async fn add_member(
    state: &AppState,
    org_id: String,
    input: CreateMembership,
) -> Result<MembershipRow, ApiError> {
    let user_id = input
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::param_missing("user_id"))?;
    let role = input
        .role
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::param_missing("role"))?;
    let public = metadata::metadata_text("public_metadata", input.public_metadata)?;
    let private = metadata::metadata_text("private_metadata", input.private_metadata)?;
    if users::service::frontend_user(state, user_id.clone())
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("user").with_param("user_id"));
    }
    let membership = pool(state)
        .run("orgs.add_member", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, &org_id)?;
                ensure_role_exists(conn, &role)?;
                if store::find_membership(conn, &org.id, &user_id)?.is_some() {
                    return Err(ApiError::new(
                        ErrorCode::AlreadyAMember,
                        "Already a member",
                        "This user is already a member of the organization.",
                    )
                    .with_param("user_id"));
                }
                ensure_room(conn, &org)?;
                let mut row = new_membership(&org.id, &user_id, &role, now_ms());
                row.public_metadata = public;
                row.private_metadata = private;
                store::insert_membership(conn, &row)?;
                Ok(row)
            })
        })
        .await?;
    Ok(membership)
}

/// Refuses a new member beyond `max_allowed_memberships` (0: no limit).
pub(super) fn ensure_room(conn: &mut DbConnection, org: &OrganizationRow) -> Result<(), ApiError> {
    if org.max_allowed_memberships > 0
        && store::members_count(conn, &org.id)? >= i64::from(org.max_allowed_memberships)
    {
        return Err(ApiError::new(
            ErrorCode::MembershipQuotaExceeded,
            "Membership limit reached",
            "The organization has reached its maximum number of members.",
        ));
    }
    Ok(())
}

pub(super) fn ensure_role_exists(conn: &mut DbConnection, role: &str) -> Result<(), ApiError> {
    if store::find_role(conn, role)?.is_none_or(|r| r.role_key != role) {
        return Err(ApiError::param_value(
            "role",
            format!("The role {role} does not exist."),
        ));
    }
    Ok(())
}

/// Refuses to leave an organization without anyone who can manage members.
fn ensure_not_last_admin(
    conn: &mut DbConnection,
    membership: &MembershipRow,
    new_role: Option<&str>,
) -> Result<(), ApiError> {
    let is_admin = claims::role_has_permission(conn, &membership.role, MANAGE_MEMBERS)?;
    let stays_admin = match new_role {
        Some(role) => claims::role_has_permission(conn, role, MANAGE_MEMBERS)?,
        None => false,
    };
    if is_admin
        && !stays_admin
        && store::count_members_with_permission(conn, &membership.organization_id, MANAGE_MEMBERS)?
            <= 1
    {
        return Err(ApiError::new(
            ErrorCode::LastAdmin,
            "Cannot remove the last admin",
            "An organization needs at least one member who can manage members.",
        ));
    }
    Ok(())
}

/// Changes a member's role (`PATCH …/memberships/{user_id}`).
pub async fn change_role(
    state: &AppState,
    org_id: String,
    user_id: String,
    role: Option<String>,
) -> Result<MembershipRow, ApiError> {
    let role = role
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::param_missing("role"))?;
    let membership = pool(state)
        .run("orgs.change_role", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, &org_id)?;
                ensure_role_exists(conn, &role)?;
                let mut membership = store::find_membership(conn, &org.id, &user_id)?
                    .ok_or_else(|| ApiError::not_found("organization membership"))?;
                ensure_not_last_admin(conn, &membership, Some(&role))?;
                membership.role = role;
                membership.updated_at = now_ms();
                store::save_membership(conn, &membership)?;
                Ok::<_, ApiError>(membership)
            })
        })
        .await?;
    session::service::refresh_organization_claims(
        state,
        membership.user_id.clone(),
        membership.organization_id.clone(),
    )
    .await?;
    Ok(membership)
}

/// Removes a member (`DELETE …/memberships/{user_id}`, or leaving).
pub async fn remove_member(
    state: &AppState,
    org_id: String,
    user_id: String,
) -> Result<MembershipRow, ApiError> {
    let membership = pool(state)
        .run("orgs.remove_member", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, &org_id)?;
                let membership = store::find_membership(conn, &org.id, &user_id)?
                    .ok_or_else(|| ApiError::not_found("organization membership"))?;
                ensure_not_last_admin(conn, &membership, None)?;
                store::delete_membership(conn, &membership.id)?;
                Ok::<_, ApiError>(membership)
            })
        })
        .await?;
    session::service::refresh_organization_claims(
        state,
        membership.user_id.clone(),
        membership.organization_id.clone(),
    )
    .await?;
    Ok(membership)
}

/// Merges a membership's metadata.
pub async fn membership_metadata(
    state: &AppState,
    org_id: String,
    user_id: String,
    public: Option<Value>,
    private: Option<Value>,
) -> Result<MembershipRow, ApiError> {
    let public = public
        .map(|v| metadata::metadata_object("public_metadata", v))
        .transpose()?;
    let private = private
        .map(|v| metadata::metadata_object("private_metadata", v))
        .transpose()?;
    pool(state)
        .run("orgs.membership_metadata", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, &org_id)?;
                let mut membership = store::find_membership(conn, &org.id, &user_id)?
                    .ok_or_else(|| ApiError::not_found("organization membership"))?;
                apply_metadata(
                    &mut membership.public_metadata,
                    "public_metadata",
                    public,
                    false,
                )?;
                apply_metadata(
                    &mut membership.private_metadata,
                    "private_metadata",
                    private,
                    false,
                )?;
                membership.updated_at = now_ms();
                store::save_membership(conn, &membership)?;
                Ok(membership)
            })
        })
        .await
}

/// A page of memberships and the total.
pub async fn list_memberships(
    state: &AppState,
    filter: MembershipFilter,
    page: Pagination,
) -> Result<(Vec<MembershipRow>, i64), ApiError> {
    pool(state)
        .run("orgs.list_memberships", move |conn| {
            if let Some(org_id) = &filter.organization_id {
                load_org(conn, org_id)?;
            }
            let rows = store::list_memberships(conn, &filter, page)?;
            Ok::<_, ApiError>((rows, store::count_memberships(conn, &filter)?))
        })
        .await
}

/// The membership of `user_id` in `org_id`, if any.
pub async fn membership(
    state: &AppState,
    org_id: String,
    user_id: String,
) -> Result<Option<MembershipRow>, ApiError> {
    pool(state)
        .run("orgs.membership", move |conn| {
            let org = load_org(conn, &org_id)?;
            store::find_membership(conn, &org.id, &user_id).map_err(ApiError::from)
        })
        .await
}

/// Clerk membership objects, with their organizations, permissions and users.
pub async fn membership_objects(
    state: &AppState,
    rows: Vec<MembershipRow>,
    backend: bool,
) -> Result<Vec<MembershipObject>, ApiError> {
    let mut objects = Vec::with_capacity(rows.len());
    for row in rows {
        let user = users::service::frontend_user(state, row.user_id.clone()).await?;
        let (org, role_name, permissions) = pool(state)
            .run("orgs.membership_object", {
                let row = row.clone();
                move |conn| {
                    let org = load_org(conn, &row.organization_id)?;
                    let (name, permissions) = claims::role_details(conn, &row.role)?;
                    Ok::<_, ApiError>((org, name, permissions))
                }
            })
            .await?;
        let public_user_data = user.as_ref().map_or(Value::Null, |u| {
            json!({
                "user_id": row.user_id,
                "first_name": u["first_name"],
                "last_name": u["last_name"],
                "profile_image_url": u["profile_image_url"],
                "image_url": u["image_url"],
                "has_image": u["has_image"],
                "identifier": users::service::public_user_data(u)["identifier"],
                "username": u["username"],
                "banned": u["banned"],
                "deprovisioned": false,
            })
        });
        objects.push(MembershipObject {
            object: "organization_membership",
            id: row.id,
            role: row.role,
            role_name,
            permissions,
            public_metadata: metadata::parse_metadata(&row.public_metadata),
            private_metadata: backend.then(|| metadata::parse_metadata(&row.private_metadata)),
            organization: if backend {
                OrganizationObject::backend(&org, None)
            } else {
                OrganizationObject::frontend(&org, None)
            },
            public_user_data,
            created_at: row.created_at,
            updated_at: row.updated_at,
        });
    }
    Ok(objects)
}

/// Refreshes the token claims of every member's sessions in `org_id`.
pub(super) async fn refresh_all_members(state: &AppState, org_id: &str) -> Result<(), ApiError> {
    let (members, _) = list_memberships(
        state,
        MembershipFilter {
            organization_id: Some(org_id.to_owned()),
            ..MembershipFilter::default()
        },
        Pagination {
            limit: i64::MAX,
            offset: 0,
        },
    )
    .await?;
    for member in members {
        session::service::refresh_organization_claims(state, member.user_id, org_id.to_owned())
            .await?;
    }
    Ok(())
}

/// The instance's organization settings.
pub async fn settings(state: &AppState) -> Result<SettingsRow, ApiError> {
    pool(state)
        .run("orgs.settings", |conn| {
            store::load_settings(conn).map_err(ApiError::from)
        })
        .await
}

/// The token claims for `user_id` acting in `org_id` (id or slug), with the
/// organization's id; `None` when the organization does not exist or the
/// user is not a member.
pub async fn claims_for(
    state: &AppState,
    user_id: String,
    org_id: String,
) -> Result<Option<(String, Value)>, ApiError> {
    pool(state)
        .run("orgs.claims", move |conn| {
            let Some(org) = store::find_org(conn, &org_id)? else {
                return Ok(None);
            };
            let Some(membership) = store::find_membership(conn, &org.id, &user_id)? else {
                return Ok(None);
            };
            Ok(Some((
                org.id.clone(),
                claims::snapshot(conn, &org, &membership)?,
            )))
        })
        .await
}
