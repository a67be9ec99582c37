//! Backend API handlers for organizations themselves: list, create, get,
//! update, delete, and their metadata.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{page_of, MetadataBody, Reply};
use crate::http::{ClerkJson, ClerkQuery, Pagination};
use crate::ids::{OrgIdOrSlug, OrganizationId};
use crate::modules::orgs::list::{self, search_text, ListOptions, OrgFilter, Sort};
use crate::modules::orgs::model::OrganizationObject;
use crate::modules::orgs::service::{self, CreateOrganization, UpdateOrganization};
use crate::modules::users::service::split_signed;
use crate::state::AppState;

/// `GET /v1/organizations` parameters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    query: Option<String>,
    #[serde(default, alias = "user_id[]")]
    user_id: Vec<String>,
    #[serde(default, alias = "organization_id[]")]
    organization_id: Vec<String>,
    order_by: Option<String>,
    #[serde(default)]
    include_members_count: bool,
    #[serde(default)]
    include_missing_member_with_elevated_permissions: bool,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The orderings Clerk's spec lists for organizations.
const ORDERS: [&str; 3] = ["created_at", "name", "members_count"];

pub(super) async fn list(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let sort = Sort::parse(params.order_by.as_deref(), &ORDERS)?.unwrap_or(Sort {
        field: "created_at",
        descending: true,
    });
    let (user_ids, excluded_user_ids) = split_signed(&params.user_id);
    let filter = OrgFilter {
        query: search_text(params.query.as_deref())?,
        user_ids,
        excluded_user_ids,
        organization_ids: params.organization_id,
    };
    let options = ListOptions {
        members_count: params.include_members_count,
        missing_admin: params.include_missing_member_with_elevated_permissions,
    };
    let (rows, total) = list::list_organizations(&state, filter, sort, page, options).await?;
    let data: Vec<OrganizationObject> = rows
        .into_iter()
        .map(|listed| {
            let mut object = OrganizationObject::backend(&listed.org, listed.members_count);
            object.missing_member_with_elevated_permissions = listed.missing_admin;
            object
        })
        .collect();
    Ok(page_of(data, total))
}

pub(super) async fn create(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<CreateOrganization>,
) -> Reply {
    let org = service::create(&state, body).await?;
    let (org, count) = service::get(&state, OrganizationId::from(org.id).into()).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, Some(count))))
}

/// `GET /v1/organizations/{id}` parameters. The members count is always
/// sent, as before the spec made it optional.
#[derive(Debug, Default, Deserialize)]
pub(super) struct GetParams {
    #[serde(default)]
    include_missing_member_with_elevated_permissions: bool,
}

pub(super) async fn get(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkQuery(params): ClerkQuery<GetParams>,
) -> Reply {
    let (org, count) = service::get(&state, path.into_inner()).await?;
    let mut object = OrganizationObject::backend(&org, Some(count));
    if params.include_missing_member_with_elevated_permissions {
        object.missing_member_with_elevated_permissions =
            Some(list::missing_admin(&state, OrganizationId::from(org.id)).await?);
    }
    Ok(HttpResponse::Ok().json(object))
}

pub(super) async fn update(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkJson(body): ClerkJson<UpdateOrganization>,
) -> Reply {
    let org = service::update(&state, path.into_inner(), body).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}

pub(super) async fn delete(state: web::Data<AppState>, path: web::Path<OrgIdOrSlug>) -> Reply {
    Ok(HttpResponse::Ok().json(service::delete(&state, path.into_inner()).await?))
}

pub(super) async fn merge_metadata(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkJson(body): ClerkJson<MetadataBody>,
) -> Reply {
    let org = service::set_metadata(
        &state,
        path.into_inner(),
        body.public_metadata,
        body.private_metadata,
        false,
    )
    .await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}

pub(super) async fn replace_metadata(
    state: web::Data<AppState>,
    path: web::Path<OrgIdOrSlug>,
    ClerkJson(body): ClerkJson<MetadataBody>,
) -> Reply {
    let org = service::set_metadata(
        &state,
        path.into_inner(),
        body.public_metadata,
        body.private_metadata,
        true,
    )
    .await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}
