//! The session module's Frontend API routes that answer with the client
//! object: `/v1/client` and a session's `/touch`, `/end` and `/remove`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::client::{client_json, envelope, frontend_session};
use crate::http::fapi::{reply, FapiCaller, FapiForm};
use crate::http::{ApiError, Patch};
use crate::ids::{ClientId, OrganizationId, SessionId};
use crate::modules::session::service::{self as sessions, status};
use crate::state::AppState;
use crate::time::now_ms;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`, after the session module's own
/// (`session::frontend::configure`), whose token route must come first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/client", web::get().to(get_client))
        .route("/client", web::delete().to(delete_client))
        .route("/client/sessions", web::delete().to(sign_out_all))
        .route("/client/sessions/{id}/touch", web::post().to(touch))
        .route("/client/sessions/{id}/end", web::post().to(end))
        .route("/client/sessions/{id}/remove", web::post().to(remove));
}

/// `GET /v1/client`: the client is both the response and the envelope's
/// `client`.
async fn get_client(state: web::Data<AppState>, caller: FapiCaller) -> Reply {
    let client = match &caller.client_id {
        Some(id) => client_json(&state, id).await?,
        None => None,
    };
    let client_id = client.as_ref().and(caller.client_id.as_deref());
    Ok(reply(
        &state,
        &caller,
        &client,
        client_id,
        client.as_deref(),
    ))
}

async fn delete_client(state: web::Data<AppState>, caller: FapiCaller) -> Reply {
    if let Some(client) =
        sessions::find_client(&state, caller.client_id.clone().map(ClientId::from)).await?
    {
        sessions::sign_out_client(&state, client.id, true).await?;
    }
    Ok(reply(&state, &caller, &Value::Null, None, None))
}

async fn sign_out_all(state: web::Data<AppState>, caller: FapiCaller) -> Reply {
    let Some(client) =
        sessions::find_client(&state, caller.client_id.clone().map(ClientId::from)).await?
    else {
        return Ok(reply(&state, &caller, &Value::Null, None, None));
    };
    sessions::sign_out_client(&state, client.id.clone(), false).await?;
    let object = client_json(&state, &client.id).await?;
    Ok(reply(
        &state,
        &caller,
        &object,
        Some(&client.id),
        object.as_deref(),
    ))
}

/// `/touch` body. An empty `active_organization_id` (which form decoding
/// reads as null) means the personal workspace; an absent one keeps the
/// session's active organization.
#[derive(Debug, Default, Deserialize)]
struct TouchParams {
    #[serde(default)]
    active_organization_id: Patch<String>,
}

async fn touch(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
    FapiForm(params): FapiForm<TouchParams>,
) -> Reply {
    let client_id = caller.client_id.clone().unwrap_or_default();
    let organization = params
        .active_organization_id
        .into_change()
        .map(|id| id.filter(|id| !id.is_empty()).map(OrganizationId::from));
    let session = sessions::touch(
        &state,
        ClientId::from(client_id.clone()),
        SessionId::from(path.into_inner()),
        organization,
    )
    .await?;
    let object = frontend_session(&state, &session, now_ms()).await?;
    envelope(&state, &caller, object, &client_id).await
}

async fn end(state: web::Data<AppState>, caller: FapiCaller, path: web::Path<String>) -> Reply {
    finish(state, caller, path.into_inner(), status::ENDED).await
}

async fn remove(state: web::Data<AppState>, caller: FapiCaller, path: web::Path<String>) -> Reply {
    finish(state, caller, path.into_inner(), status::REMOVED).await
}

async fn finish(
    state: web::Data<AppState>,
    caller: FapiCaller,
    session_id: String,
    new_status: &'static str,
) -> Reply {
    let client_id = caller.client_id.clone().unwrap_or_default();
    let session = sessions::finish(&state, Some(client_id.clone()), session_id, new_status).await?;
    let object = frontend_session(&state, &session, now_ms()).await?;
    envelope(&state, &caller, object, &client_id).await
}
