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
    envelope(state, caller, service::object(state, row), client_id).await
}

async fn create(
    state: web::Data<AppState>,
    caller: FapiCaller,
    FapiForm(body): FapiForm<CreateSignUp>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let row = service::create(&state, ClientId::from(client.id.clone()), body).await?;
    respond(&state, &caller, &client.id, &row).await
}

async fn get(state: web::Data<AppState>, caller: FapiCaller, path: web::Path<SignUpId>) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let row = service::get(&state, ClientId::from(client.id.clone()), path.into_inner()).await?;
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
