//! Backend API handlers for memberships: listing (per organization, per
//! user, instance-wide), adding, changing roles, removing, and membership
//! metadata.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{page_of, MetadataBody, Reply};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::modules::orgs::model::MembershipRow;
use crate::modules::orgs::service::{self, CreateMembership};
use crate::modules::orgs::store::MembershipFilter;
use crate::state::AppState;

/// Membership list parameters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct MembershipParams {
    #[serde(default, alias = "user_id[]")]
    user_id: Vec<String>,
    #[serde(default, alias = "role[]")]
    role: Vec<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn memberships_page(
    state: &AppState,
    filter: MembershipFilter,
    params: &MembershipParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (rows, total) = service::list_memberships(state, filter, page).await?;
    Ok(page_of(
        service::membership_objects(state, rows, true).await?,
        total,
    ))
}

pub(super) async fn list_memberships(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: Some(path.into_inner()),
        user_ids: params.user_id.clone(),
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params).await
}

pub(super) async fn instance_memberships(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: None,
        user_ids: params.user_id.clone(),
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params).await
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
    memberships_page(&state, filter, &params).await
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
    path: web::Path<String>,
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
    path: web::Path<(String, String)>,
    ClerkJson(body): ClerkJson<RoleBody>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::change_role(&state, org_id, user_id, body.role).await?;
    membership_reply(&state, row).await
}

pub(super) async fn remove_member(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::remove_member(&state, org_id, user_id).await?;
    membership_reply(&state, row).await
}

pub(super) async fn membership_metadata(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
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
