//! Organization memberships: adding, changing and removing members within
//! the membership limit and without losing the last admin, and the Clerk
//! membership objects. Every change to a membership writes the member's
//! new token claims to the outbox in its transaction (see `push`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::claims;
use super::model::{MembershipObject, MembershipRow, OrganizationObject, OrganizationRow};
use super::push::{claims_changed, deliver_soon};
use super::service::{apply_metadata, load_org, lock_org, new_membership, pool, MANAGE_MEMBERS};
use super::store::{self, MembershipFilter};
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::ids::{OrgIdOrSlug, UserId};
use crate::metadata;
use crate::modules::users;
use crate::state::AppState;
use crate::time::now_ms;

/// How long the record of a user's deletion is kept: long enough for any
/// request that found the user before the deletion to have finished.
const DELETION_RECORD_MS: i64 = 24 * 60 * 60 * 1000;

/// `POST /v1/organizations/{id}/memberships` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CreateMembership {
    pub user_id: Option<String>,
    pub role: Option<String>,
    pub public_metadata: Option<Value>,
    pub private_metadata: Option<Value>,
}

/// Makes `user_id` a member of `org_id` with the instance's default role,
/// unless they are one already: how an enterprise SSO connection brings
/// its users into its organization.
pub async fn join_with_default_role(
    state: &AppState,
    org_id: OrgIdOrSlug,
    user_id: UserId,
) -> Result<(), ApiError> {
    let role = super::service::settings(state).await?.default_role;
    let added = add_member(
        state,
        org_id,
        CreateMembership {
            user_id: Some(user_id.to_string()),
            role: Some(role),
            public_metadata: None,
            private_metadata: None,
        },
    )
    .await;
    match added {
        Err(error) if error.code() != ErrorCode::AlreadyAMember => Err(error),
        _ => Ok(()),
    }
}

/// Adds a member, within the organization's membership limit.
pub async fn add_member(
    state: &AppState,
    org_id: OrgIdOrSlug,
    input: CreateMembership,
) -> Result<MembershipRow, ApiError> {
    let user_id = input
        .user_id
        .filter(|u| !u.is_empty())
        .map(UserId::from)
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
            let (private, public) = (private.clone(), public.clone());
            write_transaction(conn, |conn| {
                let org = lock_org(conn, org_id.as_str())?;
                ensure_role_exists(conn, &role)?;
                if store::find_membership(conn, &org.id, user_id.as_str())?.is_some() {
                    return Err(ApiError::new(
                        ErrorCode::AlreadyAMember,
                        "Already a member",
                        "This user is already a member of the organization.",
                    )
                    .with_param("user_id"));
                }
                ensure_room(conn, &org)?;
                let mut row = new_membership(&org.id, user_id.as_str(), &role, now_ms());
                row.public_metadata = public;
                row.private_metadata = private;
                insert_member(conn, &row, Some("user_id"))?;
                Ok(row)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(membership)
}

/// Inserts a membership unless its user is being deleted; every way of
/// adding a member (this module, an organization's creator, an accepted
/// invitation) goes through here. The caller found the user before its
/// transaction began, in the users module (perhaps another database); the
/// per-user lock and the deletion record (`remove_deleted_user`) make sure
/// that a deletion which ran in between is seen, so no membership outlives
/// its user. `param` names the request's user parameter in the 404.
pub(super) fn insert_member(
    conn: &mut DbConnection,
    row: &MembershipRow,
    param: Option<&str>,
) -> Result<(), ApiError> {
    store::lock_user(conn, &row.user_id)?;
    if store::user_deleted(conn, &row.user_id)? {
        let gone = ApiError::not_found("user");
        return Err(match param {
            Some(param) => gone.with_param(param),
            None => gone,
        });
    }
    store::insert_membership(conn, row)?;
    claims_changed(
        conn,
        vec![(row.user_id.clone(), row.organization_id.clone())],
    )
}

/// Refuses a new member beyond `max_allowed_memberships` (0: no limit).
/// `org` must have been locked with `lock_org` in this transaction, or a
/// concurrent addition could count the same free seat.
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
/// The caller holds the organization's lock (`lock_org`): two admins
/// removed or demoted at once would otherwise each count the other.
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
    org_id: OrgIdOrSlug,
    user_id: UserId,
    role: Option<String>,
) -> Result<MembershipRow, ApiError> {
    let role = role
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::param_missing("role"))?;
    let membership = pool(state)
        .run("orgs.change_role", move |conn| {
            let role = role.clone();
            write_transaction(conn, |conn| {
                let org = lock_org(conn, org_id.as_str())?;
                ensure_role_exists(conn, &role)?;
                let mut membership = store::find_membership(conn, &org.id, user_id.as_str())?
                    .ok_or_else(|| ApiError::not_found("organization membership"))?;
                ensure_not_last_admin(conn, &membership, Some(&role))?;
                membership.role = role;
                membership.updated_at = now_ms();
                store::save_membership(conn, &membership)?;
                claims_changed(conn, vec![(membership.user_id.clone(), org.id.clone())])?;
                Ok::<_, ApiError>(membership)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(membership)
}

/// Removes a member (`DELETE …/memberships/{user_id}`, or leaving).
pub async fn remove_member(
    state: &AppState,
    org_id: OrgIdOrSlug,
    user_id: UserId,
) -> Result<MembershipRow, ApiError> {
    let membership = pool(state)
        .run("orgs.remove_member", move |conn| {
            write_transaction(conn, |conn| {
                let org = lock_org(conn, org_id.as_str())?;
                let membership = store::find_membership(conn, &org.id, user_id.as_str())?
                    .ok_or_else(|| ApiError::not_found("organization membership"))?;
                ensure_not_last_admin(conn, &membership, None)?;
                store::delete_membership(conn, &membership.id)?;
                claims_changed(conn, vec![(membership.user_id.clone(), org.id.clone())])?;
                Ok::<_, ApiError>(membership)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(membership)
}

/// Removes every organization membership of a user being deleted; the
/// users service calls it from `delete_user`, before it deletes the user.
///
/// The deletion is recorded first, under the same per-user lock that
/// [`insert_member`] takes, so a request that found the user just before
/// cannot add a membership after this removal.
///
/// As with Clerk: pending invitations addressed to the user stay as they
/// are, and the last-admin rule does not apply. An organization whose only
/// admin is deleted keeps its other members and has no admin until one is
/// named through the Backend API (`PATCH …/memberships/{user_id}` or a new
/// membership); the rule guards what members and operators do to each
/// other, and must not make an account undeletable. Member counts are
/// counted from the rows, so they drop with them. Only the removed
/// memberships' claims change (no other member's role or organization
/// does), so the removed memberships are the ones pushed to the session
/// area, as `remove_member` does.
///
/// The orgs tables may live in a database of their own, so this cannot
/// share a transaction with the user's deletion. It is ordered, idempotent
/// and retried instead: it runs first, in one transaction (`DbPool::run`
/// retries it when the connection is lost), and a second run finds nothing
/// to remove. If the user's deletion fails afterwards, the caller gets the
/// error and retries the whole `DELETE /v1/users/{id}` (until then the
/// user can join no organization); the other order could leave
/// memberships behind a user who is already gone, with no request left
/// that would remove them.
pub async fn remove_deleted_user(state: &AppState, user_id: UserId) -> Result<(), ApiError> {
    let user_id = String::from(user_id);
    pool(state)
        .run("orgs.remove_deleted_user", move |conn| {
            write_transaction(conn, |conn| {
                store::lock_user(conn, &user_id)?;
                let now = now_ms();
                store::record_deleted_user(conn, &user_id, now, now - DELETION_RECORD_MS)?;
                let removed = store::delete_user_memberships(conn, &user_id)?;
                claims_changed(
                    conn,
                    removed
                        .into_iter()
                        .map(|m| (m.user_id, m.organization_id))
                        .collect(),
                )
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(())
}

/// Merges a membership's metadata.
pub async fn membership_metadata(
    state: &AppState,
    org_id: OrgIdOrSlug,
    user_id: UserId,
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
            let (private, public) = (private.clone(), public.clone());
            write_transaction(conn, |conn| {
                let org = load_org(conn, org_id.as_str())?;
                let mut membership = store::find_membership(conn, &org.id, user_id.as_str())?
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
    org_id: OrgIdOrSlug,
    user_id: UserId,
) -> Result<Option<MembershipRow>, ApiError> {
    pool(state)
        .run("orgs.membership", move |conn| {
            let org = load_org(conn, org_id.as_str())?;
            store::find_membership(conn, &org.id, user_id.as_str()).map_err(ApiError::from)
        })
        .await
}

/// The membership of `user_id` in `org_id` (an id or a slug), holding
/// `permission` when one is given. A non-member gets 404, as if the
/// organization did not exist (for them it does not); a member whose role
/// lacks the permission gets 403 `not_authorized`.
pub async fn member_with_permission(
    state: &AppState,
    org_id: OrgIdOrSlug,
    user_id: UserId,
    permission: Option<&'static str>,
) -> Result<MembershipRow, ApiError> {
    pool(state)
        .run("orgs.member_with_permission", move |conn| {
            let org = load_org(conn, org_id.as_str())?;
            let membership = store::find_membership(conn, &org.id, user_id.as_str())?
                .ok_or_else(|| ApiError::not_found("organization"))?;
            if let Some(permission) = permission {
                if !claims::role_has_permission(conn, &membership.role, permission)? {
                    return Err(ApiError::new(
                        ErrorCode::NotAuthorized,
                        "Not authorized",
                        format!("Your role in this organization does not grant {permission}."),
                    ));
                }
            }
            Ok(membership)
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
        let user = users::service::frontend_user(state, UserId::from(row.user_id.clone())).await?;
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
                "first_name": u.first_name,
                "last_name": u.last_name,
                "profile_image_url": u.profile_image_url,
                "image_url": u.image_url,
                "has_image": u.has_image,
                "identifier": u.identifier(),
                "username": u.username,
                "banned": u.banned,
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
