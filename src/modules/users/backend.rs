//! Backend API handlers for `/v1/users`. Thin: parse, call the service, render.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::list::ListUsersParams;
use super::requests::{CreateUser, MetadataPatch, UpdateUser, VerifyPassword};
use super::{password, service};
use crate::http::{ApiError, ClerkJson, ClerkQuery};
use crate::ids::UserId;
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes (inside the authenticated `/v1` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list))
        .route("/users", web::post().to(create))
        .route("/users/count", web::get().to(count))
        .route("/users/{user_id}", web::get().to(get))
        .route("/users/{user_id}", web::patch().to(update))
        .route("/users/{user_id}", web::delete().to(delete))
        .route("/users/{user_id}/metadata", web::patch().to(merge_metadata))
        .route("/users/{user_id}/metadata", web::put().to(replace_metadata))
        .route("/users/{user_id}/ban", web::post().to(ban))
        .route("/users/{user_id}/unban", web::post().to(unban))
        .route("/users/{user_id}/lock", web::post().to(lock))
        .route("/users/{user_id}/unlock", web::post().to(unlock))
        .route(
            "/users/{user_id}/verify_password",
            web::post().to(verify_password),
        )
        .route(
            "/users/{user_id}/oauth_access_tokens/{provider}",
            web::get().to(oauth_access_tokens),
        );
}

/// `GET /v1/users/{id}/oauth_access_tokens/{provider}` parameters.
#[derive(Debug, Default, serde::Deserialize)]
struct TokenListParams {
    /// `@clerk/backend` sends `true` and reads `{data, total_count}`; the
    /// spec's answer without it is the bare array.
    paginated: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn oauth_access_tokens(
    state: web::Data<AppState>,
    path: web::Path<(UserId, String)>,
    ClerkQuery(params): ClerkQuery<TokenListParams>,
) -> Reply {
    let (user_id, provider) = path.into_inner();
    let page = crate::http::Pagination::new(params.limit, params.offset)?;
    let tokens = service::oauth_access_tokens(&state, user_id, provider).await?;
    let total = tokens.len();
    let data: Vec<_> = tokens
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(0))
        .collect();
    Ok(if params.paginated == Some(true) {
        HttpResponse::Ok().json(json!({ "data": data, "total_count": total }))
    } else {
        HttpResponse::Ok().json(data)
    })
}

async fn list(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListUsersParams>,
) -> Reply {
    Ok(HttpResponse::Ok().json(service::list_users(&state, params).await?))
}

async fn count(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListUsersParams>,
) -> Reply {
    Ok(HttpResponse::Ok().json(service::count_users(&state, params).await?))
}

async fn create(state: web::Data<AppState>, ClerkJson(body): ClerkJson<CreateUser>) -> Reply {
    Ok(HttpResponse::Ok().json(service::create_user(&state, body).await?))
}

async fn get(state: web::Data<AppState>, path: web::Path<UserId>) -> Reply {
    Ok(HttpResponse::Ok().json(service::get_user(&state, path.into_inner()).await?))
}

async fn update(
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    ClerkJson(body): ClerkJson<UpdateUser>,
) -> Reply {
    Ok(HttpResponse::Ok().json(service::update_user(&state, path.into_inner(), body).await?))
}

async fn delete(state: web::Data<AppState>, path: web::Path<UserId>) -> Reply {
    Ok(HttpResponse::Ok().json(service::delete_user(&state, path.into_inner()).await?))
}

async fn merge_metadata(
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    ClerkJson(body): ClerkJson<MetadataPatch>,
) -> Reply {
    Ok(HttpResponse::Ok().json(service::merge_metadata(&state, path.into_inner(), body).await?))
}

async fn replace_metadata(
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    ClerkJson(body): ClerkJson<MetadataPatch>,
) -> Reply {
    Ok(HttpResponse::Ok().json(service::replace_metadata(&state, path.into_inner(), body).await?))
}

async fn ban(state: web::Data<AppState>, path: web::Path<UserId>) -> Reply {
    Ok(HttpResponse::Ok().json(service::set_banned(&state, path.into_inner(), true).await?))
}

async fn unban(state: web::Data<AppState>, path: web::Path<UserId>) -> Reply {
    Ok(HttpResponse::Ok().json(service::set_banned(&state, path.into_inner(), false).await?))
}

async fn lock(state: web::Data<AppState>, path: web::Path<UserId>) -> Reply {
    Ok(HttpResponse::Ok().json(service::set_locked(&state, path.into_inner(), true).await?))
}

async fn unlock(state: web::Data<AppState>, path: web::Path<UserId>) -> Reply {
    Ok(HttpResponse::Ok().json(service::set_locked(&state, path.into_inner(), false).await?))
}

async fn verify_password(
    state: web::Data<AppState>,
    path: web::Path<UserId>,
    ClerkJson(body): ClerkJson<VerifyPassword>,
) -> Reply {
    password::verify_password(&state, path.into_inner(), body.password).await?;
    Ok(HttpResponse::Ok().json(json!({ "verified": true })))
}
