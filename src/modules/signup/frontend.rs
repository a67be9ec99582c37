//! Frontend API handlers for `/v1/client/sign_ups`.

use actix_web::{web, HttpResponse};

use super::model::SignUpRow;
use super::service::{self, CreateSignUp, Verification};
use crate::fapi::envelope;
use crate::http::fapi::{FapiCaller, FapiForm};
use crate::http::ApiError;
use crate::ids::{ClientId, SignUpId};
use crate::modules::session::service as sessions;
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/client/sign_ups", web::post().to(create))
        .route("/client/sign_ups/{id}", web::get().to(get))
        .route("/client/sign_ups/{id}", web::patch().to(update))
        .route(
            "/client/sign_ups/{id}/prepare_verification",
            web::post().to(prepare_verification),
        )
        .route(
            "/client/sign_ups/{id}/attempt_verification",
            web::post().to(attempt_verification),
        );
}

async fn respond(state: &AppState, caller: &FapiCaller, client_id: &str, row: &SignUpRow) -> Reply {
    let object = service::object(state, row).await?;
    envelope(state, caller, object, client_id).await
}

async fn create(
    state: web::Data<AppState>,
    caller: FapiCaller,
    FapiForm(mut body): FapiForm<CreateSignUp>,
) -> Reply {
    body.native = caller.native;
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let row = service::create(&state, ClientId::from(client.id.clone()), body).await?;
    respond(&state, &caller, &client.id, &row).await
}

/// `GET /v1/client/sign_ups/{id}` parameters.
#[derive(Debug, Default, serde::Deserialize)]
struct GetParams {
    /// A native app back from a social or enterprise provider.
    rotating_token_nonce: Option<String>,
}

async fn get(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignUpId>,
    crate::http::ClerkQuery(query): crate::http::ClerkQuery<GetParams>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let client_id = ClientId::from(client.id.clone());
    let row = service::get(&state, client_id.clone(), path.into_inner()).await?;
    let caller = match query.rotating_token_nonce.filter(|n| !n.is_empty()) {
        Some(nonce) => {
            super::external::redeem_nonce(&state, client_id, &row, &nonce).await?;
            caller.with_new_client_token()
        }
        None => caller,
    };
    respond(&state, &caller, &client.id, &row).await
}

async fn update(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignUpId>,
    FapiForm(body): FapiForm<CreateSignUp>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let row = service::update(
        &state,
        ClientId::from(client.id.clone()),
        path.into_inner(),
        body,
    )
    .await?;
    respond(&state, &caller, &client.id, &row).await
}

async fn prepare_verification(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignUpId>,
    FapiForm(body): FapiForm<Verification>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let row = service::prepare_verification(
        &state,
        ClientId::from(client.id.clone()),
        path.into_inner(),
        body,
    )
    .await?;
    respond(&state, &caller, &client.id, &row).await
}

async fn attempt_verification(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignUpId>,
    FapiForm(body): FapiForm<Verification>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let row = service::attempt_verification(
        &state,
        ClientId::from(client.id.clone()),
        path.into_inner(),
        body,
    )
    .await?;
    respond(&state, &caller, &client.id, &row).await
}
