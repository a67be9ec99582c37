//! Backend API handlers for organizations themselves: list, create, get,
//! update, delete, and their metadata.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{page_of, MetadataBody, Reply};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::modules::orgs::model::OrganizationObject;
use crate::modules::orgs::service::{self, CreateOrganization, UpdateOrganization};
use crate::modules::orgs::store::OrgFilter;
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
    limit: Option<i64>,
    offset: Option<i64>,
}

pub(super) async fn list(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let newest_first = match params
        .order_by
        .as_deref()
        .map(|o| o.trim_start_matches(' '))
    {
        None | Some("-created_at") => true,
        Some("+created_at") | Some("created_at") => false,
        Some(_) => {
            return Err(ApiError::param_value(
                "order_by",
                "order_by must be +created_at or -created_at.",
            ))
        }
    };
    if params
        .query
        .as_ref()
        .is_some_and(|q| q.chars().count() > 256)
    {
        return Err(ApiError::param_too_long("query", 256));
    }
    let filter = OrgFilter {
        query: params
            .query
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty()),
        user_ids: params.user_id,
        organization_ids: params.organization_id,
    };
    let (rows, total) = service::list(
        &state,
        filter,
        newest_first,
        page,
        params.include_members_count,
    )
    .await?;
    let data: Vec<OrganizationObject> = rows
        .iter()
        .map(|(org, count)| OrganizationObject::backend(org, *count))
        .collect();
    Ok(page_of(data, total))
}

pub(super) async fn create(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<CreateOrganization>,
) -> Reply {
    let org = service::create(&state, body).await?;
    let (org, count) = service::get(&state, org.id).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, Some(count))))
}

pub(super) async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let (org, count) = service::get(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, Some(count))))
}

pub(super) async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<UpdateOrganization>,
) -> Reply {
    let org = service::update(&state, path.into_inner(), body).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}

pub(super) async fn delete(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(service::delete(&state, path.into_inner()).await?))
}

pub(super) async fn merge_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
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
    path: web::Path<String>,
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
