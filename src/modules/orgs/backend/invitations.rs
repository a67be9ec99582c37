//! Backend API handlers for organization invitations: listing (per
//! organization, pending, per user, instance-wide), inviting one or many,
//! getting and revoking.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::{page_of, Reply};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::ids::{InvitationId, OrgIdOrSlug, UserId};
use crate::modules::orgs::invitations::{self, CreateInvitation, InvitationFilter};
use crate::modules::orgs::list::{search_text, Sort};
use crate::state::AppState;

/// Invitation list parameters (each list reads those Clerk's spec gives it).
#[derive(Debug, Default, Deserialize)]
pub(super) struct InvitationParams {
    status: Option<String>,
    /// One address (`GET /v1/organizations/{id}/invitations`).
    email_address: Option<String>,
    /// Part of an address (`GET /v1/organization_invitations`).
    query: Option<String>,
    order_by: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The orderings Clerk's spec lists for invitations.
const ORDERS: [&str; 2] = ["created_at", "email_address"];

impl InvitationParams {
    fn sort(&self) -> Result<Option<Sort>, ApiError> {
        Sort::parse(self.order_by.as_deref(), &ORDERS)
    }
}

async fn invitations_page(
    state: &AppState,
    filter: InvitationFilter,
    params: &InvitationParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = invitations::list(state, filter, page, true).await?;
    Ok(page_of(data, total))
}

pub(super) async fn list_invitations(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        organization_id: Some(path.into_inner()),
        email_addresses: params
            .email_address
            .iter()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect(),
        status: params.status.clone(),
        sort: params.sort()?,
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

pub(super) async fn pending_invitations(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        organization_id: Some(path.into_inner()),
        status: Some("pending".to_owned()),
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

pub(super) async fn instance_invitations(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        status: params.status.clone(),
        email_address_query: search_text(params.query.as_deref())?.map(|q| q.to_lowercase()),
        sort: params.sort()?,
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

pub(super) async fn user_invitations(
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let emails = crate::modules::users::service::verified_emails(&state, path.into_inner()).await?;
    if emails.is_empty() {
        return Ok(page_of(Vec::<Value>::new(), 0));
    }
    let filter = InvitationFilter {
        email_addresses: emails,
        status: params.status.clone(),
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

pub(super) async fn invite(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkJson(body): ClerkJson<CreateInvitation>,
) -> Reply {
    let mut created = invitations::create(&state, path.into_inner(), vec![body], true).await?;
    let object = created
        .pop()
        .ok_or_else(|| ApiError::internal("invitation missing"))?;
    Ok(HttpResponse::Ok().json(object))
}

pub(super) async fn invite_bulk(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkJson(body): ClerkJson<Vec<CreateInvitation>>,
) -> Reply {
    let created = invitations::create(&state, path.into_inner(), body, true).await?;
    let total = i64::try_from(created.len()).unwrap_or(i64::MAX);
    Ok(page_of(created, total))
}

pub(super) async fn get_invitation(
    state: web::Data<AppState>,
    path: web::Path<(OrgIdOrSlug, InvitationId)>,
) -> Reply {
    let (org_id, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(invitations::get(&state, org_id, id, true).await?))
}

pub(super) async fn revoke_invitation(
    state: web::Data<AppState>,
    path: web::Path<(OrgIdOrSlug, InvitationId)>,
) -> Reply {
    let (org_id, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(invitations::revoke(&state, org_id, id, true).await?))
}
