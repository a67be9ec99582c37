//! Frontend API handlers: the client, its sessions, and session tokens.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::model::status;
use super::service;
use crate::http::fapi::{attach_client_token, reply, FapiCaller, FapiForm};
use crate::http::{ApiError, Patch};
use crate::modules::{signin, signup, Module};
use crate::state::AppState;
use crate::time::now_ms;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`, the token route first: it is the hot
/// path, and routes are tried in mounting order.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/client/sessions/{id}/tokens", web::post().to(token))
        .route("/environment", web::get().to(super::environment::get))
        .route("/client", web::get().to(get_client))
        .route("/client", web::delete().to(delete_client))
        .route("/client/sessions", web::delete().to(sign_out_all))
        .route("/client/sessions/{id}/touch", web::post().to(touch))
        .route("/client/sessions/{id}/end", web::post().to(end))
        .route("/client/sessions/{id}/remove", web::post().to(remove));
}

/// The client object for `client_id`, with its current sign-in and
/// sign-up, written out as JSON once: the envelope may carry it twice.
async fn client_json(state: &AppState, client_id: &str) -> Result<Option<Box<RawValue>>, ApiError> {
    let Some((client, sessions)) =
        service::client_with_sessions(state, client_id.to_owned()).await?
    else {
        return Ok(None);
    };
    let sign_in = if state.settings.modules.is_enabled(Module::Signin) {
        signin::service::current_object(state, &client.id, client.sign_in_id.clone()).await?
    } else {
        None
    };
    let sign_up = if state.settings.modules.is_enabled(Module::Signup) {
        signup::service::current_object(state, &client.id, client.sign_up_id.clone()).await?
    } else {
        None
    };
    let object = service::client_object(client, sessions, sign_in, sign_up);
    serde_json::value::to_raw_value(&object)
        .map(Some)
        .map_err(ApiError::internal)
}

/// `{response, client}` for the caller's client, with its token attached.
pub async fn envelope<R: Serialize>(
    state: &AppState,
    caller: &FapiCaller,
    response: R,
    client_id: &str,
) -> Reply {
    let client = client_json(state, client_id).await?;
    Ok(reply(
        state,
        caller,
        &response,
        Some(client_id),
        client.as_deref(),
    ))
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
    if let Some(client) = service::find_client(&state, caller.client_id.clone()).await? {
        service::sign_out_client(&state, client.id, true).await?;
    }
    Ok(reply(&state, &caller, &Value::Null, None, None))
}

async fn sign_out_all(state: web::Data<AppState>, caller: FapiCaller) -> Reply {
    let Some(client) = service::find_client(&state, caller.client_id.clone()).await? else {
        return Ok(reply(&state, &caller, &Value::Null, None, None));
    };
    service::sign_out_client(&state, client.id.clone(), false).await?;
    let object = client_json(&state, &client.id).await?;
    Ok(reply(
        &state,
        &caller,
        &object,
        Some(&client.id),
        object.as_deref(),
    ))
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

/// `/touch` body: `active_organization_id` as in [`TokenParams`].
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
        .map(Option::unwrap_or_default);
    let session =
        service::touch(&state, client_id.clone(), path.into_inner(), organization).await?;
    let object = service::frontend_session(&state, &session, now_ms()).await?;
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
    let session = service::finish(&state, Some(client_id.clone()), session_id, new_status).await?;
    let object = service::frontend_session(&state, &session, now_ms()).await?;
    envelope(&state, &caller, object, &client_id).await
}
