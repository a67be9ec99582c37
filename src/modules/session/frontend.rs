//! Frontend API handlers of the session module's own: session tokens and
//! the environment. The routes that answer with the client object
//! (`/v1/client`, a session's `/touch`, `/end`, `/remove`) compose other
//! modules' objects and live in `crate::fapi`; they are mounted with these.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::service;
use crate::http::fapi::{attach_client_token, FapiCaller, FapiForm};
use crate::http::{ApiError, Patch};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`, the token route first: it is the hot
/// path, and routes are tried in mounting order.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/client/sessions/{id}/tokens", web::post().to(token))
        .route("/environment", web::get().to(super::environment::get));
}

/// `POST /v1/client/sessions/{id}/tokens` body. An empty `organization_id`
/// (which form decoding reads as null) means the personal workspace; an
/// absent one keeps the session's active organization.
#[derive(Debug, Default, Deserialize)]
struct TokenParams {
    #[serde(default)]
    organization_id: Patch<String>,
}

async fn token(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
    FapiForm(params): FapiForm<TokenParams>,
) -> Reply {
    let client_id = caller.client_id.clone().unwrap_or_default();
    let session_id = path.into_inner();
    let token = service::session_token(
        &state,
        Some(&client_id),
        session_id,
        caller.origin.clone(),
        None,
        params
            .organization_id
            .into_change()
            .map(Option::unwrap_or_default),
    )
    .await?;
    let mut builder = HttpResponse::Ok();
    attach_client_token(&state, &caller, Some(&client_id), &mut builder);
    Ok(token.respond(&mut builder))
}
