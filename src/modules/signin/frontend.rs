//! Frontend API handlers for `/v1/client/sign_ins`.

use actix_web::{web, HttpResponse};

use super::external;
use super::service::{self, AttemptFirstFactor, CreateSignIn, PrepareFirstFactor};
use crate::fapi::envelope;
use crate::http::fapi::{FapiCaller, FapiForm};
use crate::http::{ApiError, ClerkQuery};
use crate::ids::{ClientId, SignInId};
use crate::modules::session::service as sessions;
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/client/sign_ins", web::post().to(create))
        .route("/client/sign_ins/{id}", web::get().to(get))
        .route(
            "/client/sign_ins/{id}/prepare_first_factor",
            web::post().to(prepare_first_factor),
        )
        .route(
            "/client/sign_ins/{id}/attempt_first_factor",
            web::post().to(attempt_first_factor),
        );
}

async fn create(
    state: web::Data<AppState>,
    caller: FapiCaller,
    FapiForm(mut body): FapiForm<CreateSignIn>,
) -> Reply {
    body.native = caller.native;
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let outcome = service::create(&state, ClientId::from(client.id.clone()), body).await;
    reply_with(&state, &caller, client.id, outcome).await
}

/// `GET /v1/client/sign_ins/{id}` parameters.
#[derive(Debug, Default, serde::Deserialize)]
struct GetParams {
    /// A native app back from an identity provider (see `external`).
    rotating_token_nonce: Option<String>,
}

async fn get(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignInId>,
    ClerkQuery(query): ClerkQuery<GetParams>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let client_id = ClientId::from(client.id.clone());
    let (row, caller) = match query.rotating_token_nonce.filter(|n| !n.is_empty()) {
        Some(nonce) => {
            let row = external::redeem_nonce(&state, client_id, path.into_inner(), &nonce).await?;
            // The app gets a freshly issued client token for its client.
            (row, caller.with_new_client_token())
        }
        None => (
            service::get(&state, client_id, path.into_inner()).await?,
            caller,
        ),
    };
    let object = service::object(&state, &row).await?;
    envelope(&state, &caller, object, &client.id).await
}

async fn prepare_first_factor(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignInId>,
    FapiForm(mut body): FapiForm<PrepareFirstFactor>,
) -> Reply {
    body.native = caller.native;
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let outcome = service::prepare_first_factor(
        &state,
        ClientId::from(client.id.clone()),
        path.into_inner(),
        body,
    )
    .await;
    reply_with(&state, &caller, client.id, outcome).await
}

async fn attempt_first_factor(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<SignInId>,
    FapiForm(body): FapiForm<AttemptFirstFactor>,
) -> Reply {
    let client =
        sessions::ensure_client(&state, caller.client_id.clone().map(ClientId::from)).await?;
    let outcome = service::attempt_first_factor(
        &state,
        ClientId::from(client.id.clone()),
        path.into_inner(),
        body,
    )
    .await;
    reply_with(&state, &caller, client.id, outcome).await
}

async fn reply_with(
    state: &AppState,
    caller: &FapiCaller,
    client_id: String,
    outcome: Result<super::model::SignInRow, ApiError>,
) -> Reply {
    let row = outcome?;
    let object = service::object(state, &row).await?;
    envelope(state, caller, object, &client_id).await
}
