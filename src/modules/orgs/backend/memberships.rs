//! Backend API handlers for memberships: listing (per organization, per
//! user, instance-wide), adding, changing roles, removing, and membership
//! metadata.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{page_of, MetadataBody, Reply};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::ids::{OrgIdOrSlug, UserId};
use crate::modules::orgs::list::{self, ByUsers, Sort};
use crate::modules::orgs::model::MembershipRow;
use crate::modules::orgs::service::{self, CreateMembership};
use crate::modules::orgs::store::MembershipFilter;
use crate::modules::users::service::ListUsersParams;
use crate::state::AppState;

/// Membership list parameters of the memberships themselves; the user
/// filters Clerk's spec defines (`user_id`, `email_address`, `query`, …)
/// are read as the users list reads them ([`ListUsersParams`]).
#[derive(Debug, Default, Deserialize)]
pub(super) struct MembershipParams {
    #[serde(default, alias = "role[]")]
    role: Vec<String>,
    order_by: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The orderings Clerk's spec lists for membership lists.
const ORDERS: [&str; 6] = [
    "created_at",
    "email_address",
    "phone_number",
    "first_name",
    "last_name",
    "username",
];

async fn memberships_page(
    state: &AppState,
    mut filter: MembershipFilter,
    params: &MembershipParams,
    users: &ListUsersParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let sort = Sort::parse(params.order_by.as_deref(), &ORDERS)?;
    let user_filter = users.filter()?;
    // Ordering by a user attribute, or any user filter but plain user ids,
    // goes through the users service; plain ids are a membership column.
    let user_order = match sort {
        Some(sort) if sort.field != "created_at" => Some(users.order()?),
        _ => None,
    };
    let only_ids = {
        let mut rest = user_filter.clone();
        rest.user_ids.clear();
        rest.is_empty()
    };
    let by_users = if user_order.is_none() && only_ids {
        filter.user_ids.extend(user_filter.user_ids);
        None
    } else {
        Some(ByUsers {
            filter: user_filter,
            order: user_order,
            param: if user_order.is_some() {
                "order_by"
            } else {
                users.first_filter_param()
            },
        })
    };
    // Newest first unless asked otherwise, as Clerk's lists are.
    let descending = sort.is_none_or(|s| s.field != "created_at" || s.descending);
    let (rows, total) = list::list_memberships(state, filter, descending, by_users, page).await?;
    Ok(page_of(
        service::membership_objects(state, rows, true).await?,
        total,
    ))
}

pub(super) async fn list_memberships(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
    ClerkQuery(users): ClerkQuery<ListUsersParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: Some(path.into_inner()),
        user_ids: Vec::new(),
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params, &users).await
}

pub(super) async fn instance_memberships(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
    ClerkQuery(users): ClerkQuery<ListUsersParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: None,
        user_ids: Vec::new(),
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params, &users).await
}

pub(super) async fn user_memberships(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: None,
        user_ids: vec![path.into_inner()],
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params, &ListUsersParams::default()).await
}

async fn membership_reply(state: &AppState, row: MembershipRow) -> Reply {
    let mut objects = service::membership_objects(state, vec![row], true).await?;
    let object = objects
        .pop()
        .ok_or_else(|| ApiError::internal("membership object missing"))?;
    Ok(HttpResponse::Ok().json(object))
}

pub(super) async fn add_member(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkJson(body): ClerkJson<CreateMembership>,
) -> Reply {
    let row = service::add_member(&state, path.into_inner(), body).await?;
    membership_reply(&state, row).await
}

/// `PATCH …/memberships/{user_id}` body.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RoleBody {
    role: Option<String>,
}

pub(super) async fn change_role(
    state: web::Data<AppState>,
    path: web::Path<(OrgIdOrSlug, UserId)>,
    ClerkJson(body): ClerkJson<RoleBody>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::change_role(&state, org_id, user_id, body.role).await?;
    membership_reply(&state, row).await
}

pub(super) async fn remove_member(
    state: web::Data<AppState>,
    path: web::Path<(OrgIdOrSlug, UserId)>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::remove_member(&state, org_id, user_id).await?;
    membership_reply(&state, row).await
}

pub(super) async fn membership_metadata(
    state: web::Data<AppState>,
    path: web::Path<(OrgIdOrSlug, UserId)>,
    ClerkJson(body): ClerkJson<MetadataBody>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::membership_metadata(
        &state,
        org_id,
        user_id,
        body.public_metadata,
        body.private_metadata,
    )
    .await?;
    membership_reply(&state, row).await
}
