//! Backend API handlers for `/v1/sign_in_tokens`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::tickets;
use crate::http::{ApiError, ClerkJson};
use crate::ids::{SignInTokenId, UserId};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign_in_tokens", web::post().to(create))
        .route("/sign_in_tokens/{id}/revoke", web::post().to(revoke));
}

/// `POST /v1/sign_in_tokens` body.
#[derive(Debug, Default, Deserialize)]
struct CreateParams {
    user_id: Option<String>,
    expires_in_seconds: Option<i64>,
}

async fn create(state: web::Data<AppState>, ClerkJson(body): ClerkJson<CreateParams>) -> Reply {
    let user_id = body
        .user_id
        .filter(|u| !u.is_empty())
        .map(UserId::from)
        .ok_or_else(|| ApiError::param_missing("user_id"))?;
    Ok(HttpResponse::Ok().json(tickets::create(&state, user_id, body.expires_in_seconds).await?))
}

async fn revoke(state: web::Data<AppState>, path: web::Path<SignInTokenId>) -> Reply {
    Ok(HttpResponse::Ok().json(tickets::revoke(&state, path.into_inner()).await?))
}
