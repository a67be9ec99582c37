//! Backend API handlers for organization roles, permissions and the
//! instance's organization settings; the logic is in the orgs `roles` module.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{page_of, Reply};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::ids::{PermissionIdOrKey, RoleIdOrKey};
use crate::modules::orgs::list::{search_text, RoleSearch, Sort};
use crate::modules::orgs::roles::{self, PermissionInput, RoleInput, SettingsInput};
use crate::modules::orgs::service;
use crate::state::AppState;

/// Role and permission list parameters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    query: Option<String>,
    order_by: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The orderings Clerk's spec lists for roles and permissions.
const ORDERS: [&str; 3] = ["created_at", "name", "key"];

impl ListParams {
    fn search(&self) -> Result<RoleSearch, ApiError> {
        Ok(RoleSearch {
            query: search_text(self.query.as_deref())?,
            sort: Sort::parse(self.order_by.as_deref(), &ORDERS)?,
            page: Pagination::new(self.limit, self.offset)?,
        })
    }
}

pub(super) async fn list_roles(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let (data, total) = roles::list_roles(&state, params.search()?).await?;
    Ok(page_of(data, total))
}

pub(super) async fn create_role(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<RoleInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::create_role(&state, body).await?))
}

pub(super) async fn get_role(state: web::Data<AppState>, path: web::Path<RoleIdOrKey>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::get_role(&state, path.into_inner()).await?))
}

pub(super) async fn update_role(
    state: web::Data<AppState>,
    path: web::Path<RoleIdOrKey>,
    ClerkJson(body): ClerkJson<RoleInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::update_role(&state, path.into_inner(), body).await?))
}

pub(super) async fn delete_role(state: web::Data<AppState>, path: web::Path<RoleIdOrKey>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::delete_role(&state, path.into_inner()).await?))
}

pub(super) async fn grant(
    state: web::Data<AppState>,
    path: web::Path<(RoleIdOrKey, PermissionIdOrKey)>,
) -> Reply {
    let (role, permission) = path.into_inner();
    Ok(HttpResponse::Ok().json(roles::set_role_permission(&state, role, permission, true).await?))
}

pub(super) async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<(RoleIdOrKey, PermissionIdOrKey)>,
) -> Reply {
    let (role, permission) = path.into_inner();
    Ok(HttpResponse::Ok().json(roles::set_role_permission(&state, role, permission, false).await?))
}

pub(super) async fn list_permissions(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let (data, total) = roles::list_permissions(&state, params.search()?).await?;
    Ok(page_of(data, total))
}

pub(super) async fn create_permission(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<PermissionInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::create_permission(&state, body).await?))
}

pub(super) async fn get_permission(
    state: web::Data<AppState>,
    path: web::Path<PermissionIdOrKey>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::get_permission(&state, path.into_inner()).await?))
}

pub(super) async fn update_permission(
    state: web::Data<AppState>,
    path: web::Path<PermissionIdOrKey>,
    ClerkJson(body): ClerkJson<PermissionInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::update_permission(&state, path.into_inner(), body).await?))
}

pub(super) async fn delete_permission(
    state: web::Data<AppState>,
    path: web::Path<PermissionIdOrKey>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::delete_permission(&state, path.into_inner()).await?))
}

pub(super) async fn get_settings(state: web::Data<AppState>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::settings_object(&service::settings(&state).await?)))
}

pub(super) async fn update_settings(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<SettingsInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::update_settings(&state, body).await?))
}
