//! Backend API routes that need more than one module: mounted with the
//! session module's routes (same toggle, same roles), composed here so the
//! session module knows users only by id.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::http::{ApiError, ClerkJson};
use crate::ids::UserId;
use crate::modules::session::service::{self as sessions, SessionObject};
use crate::modules::users::service::frontend_user;
use crate::state::AppState;
use crate::time::now_ms;

/// Mounts the routes inside the authenticated `/v1` scope, after the
/// session module's own (`session::backend::configure`).
pub fn configure_session_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::post().to(create_session));
}

/// `POST /v1/sessions` body.
#[derive(Debug, Default, Deserialize)]
struct CreateParams {
    user_id: Option<String>,
}

/// `POST /v1/sessions`: a session for an existing user, without a sign-in.
/// 404 for a user the users module does not know.
async fn create_session(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    let user_id = body
        .user_id
        .filter(|u| !u.is_empty())
        .map(UserId::from)
        .ok_or_else(|| ApiError::param_missing("user_id"))?;
    if frontend_user(&state, user_id.clone()).await?.is_none() {
        return Err(ApiError::not_found("user").with_param("user_id"));
    }
    let session = sessions::create_backend_session(&state, user_id).await?;
    Ok(HttpResponse::Ok().json(SessionObject::from_row(&session, now_ms())))
}
