//! Frontend API handlers for `/v1/me`: a signed-in user's own account.
//! Every route acts as the caller's current session (`_clerk_session_id`
//! or the client's last active session); without one it answers 401.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::account::{self, ChangePassword, UpdateSelf};
use crate::fapi::{envelope, frontend_session, SignedIn};
use crate::http::fapi::FapiForm;
use crate::http::ApiError;
use crate::ids::EmailAddressId;
use crate::modules::session::service as sessions;
use crate::state::AppState;
use crate::time::now_ms;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(get_me))
        .route("/me", web::patch().to(update_me))
        .route("/me", web::delete().to(delete_me))
        .route("/me/change_password", web::post().to(change_password))
        .route("/me/sessions", web::get().to(all_sessions))
        .route("/me/sessions/active", web::get().to(active_sessions))
        .route("/me/email_addresses", web::post().to(add_email))
        .route("/me/email_addresses/{id}", web::get().to(get_email))
        .route("/me/email_addresses/{id}", web::delete().to(delete_email))
        .route(
            "/me/email_addresses/{id}/prepare_verification",
            web::post().to(prepare_verification),
        )
        .route(
            "/me/email_addresses/{id}/attempt_verification",
            web::post().to(attempt_verification),
        )
        .route(
            "/me/external_accounts/{id}",
            web::delete().to(disconnect_external_account),
        );
}

/// `DELETE /v1/me/external_accounts/{id}`: never the last way to sign in.
async fn disconnect_external_account(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let deleted = super::social::disconnect(&state, me.user_id.clone(), path.into_inner()).await?;
    wrap(&state, &me, deleted).await
}

async fn wrap(state: &AppState, me: &SignedIn, response: impl serde::Serialize) -> Reply {
    envelope(state, &me.caller, response, me.client_id.as_str()).await
}

async fn get_me(state: web::Data<AppState>, me: SignedIn) -> Reply {
    let user = super::service::frontend_user(&state, me.user_id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    wrap(&state, &me, user).await
}

async fn update_me(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<UpdateSelf>,
) -> Reply {
    account::update_self(&state, me.user_id.clone(), body).await?;
    get_me(state, me).await
}

async fn delete_me(state: web::Data<AppState>, me: SignedIn) -> Reply {
    let deleted = account::delete_self(&state, me.user_id.clone()).await?;
    wrap(&state, &me, deleted).await
}

async fn change_password(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<ChangePassword>,
) -> Reply {
    account::change_password(&state, me.user_id.clone(), me.session_id.clone(), body).await?;
    get_me(state, me).await
}

async fn sessions_of(state: &AppState, me: &SignedIn, active_only: bool) -> Reply {
    let now = now_ms();
    let mut objects = Vec::new();
    for row in sessions::user_sessions(state, me.user_id.clone(), active_only).await? {
        objects.push(frontend_session(state, &row, now).await?);
    }
    // Clerk's SDKs read these two lists as plain arrays.
    let mut builder = HttpResponse::Ok();
    crate::http::fapi::attach_client_token(
        state,
        &me.caller,
        Some(me.client_id.as_str()),
        &mut builder,
    );
    Ok(builder.json(objects))
}

async fn all_sessions(state: web::Data<AppState>, me: SignedIn) -> Reply {
    sessions_of(&state, &me, false).await
}

async fn active_sessions(state: web::Data<AppState>, me: SignedIn) -> Reply {
    sessions_of(&state, &me, true).await
}

/// `POST /v1/me/email_addresses` body.
#[derive(Debug, Default, Deserialize)]
struct AddEmail {
    email_address: Option<String>,
}

async fn add_email(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<AddEmail>,
) -> Reply {
    let email = account::add_email(&state, me.user_id.clone(), body.email_address).await?;
    wrap(&state, &me, email).await
}

async fn get_email(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<EmailAddressId>,
) -> Reply {
    let row = account::own_email(&state, me.user_id.clone(), path.into_inner()).await?;
    wrap(&state, &me, super::model::EmailAddressObject::from_row(row)).await
}

async fn delete_email(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<EmailAddressId>,
) -> Reply {
    let deleted = account::delete_email(&state, me.user_id.clone(), path.into_inner()).await?;
    wrap(&state, &me, deleted).await
}

/// Verification bodies.
#[derive(Debug, Default, Deserialize)]
struct VerificationBody {
    strategy: Option<String>,
    code: Option<String>,
}

async fn prepare_verification(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<EmailAddressId>,
    FapiForm(body): FapiForm<VerificationBody>,
) -> Reply {
    crate::crypto::otp::require_email_code(body.strategy.as_deref())?;
    let email =
        account::prepare_email_verification(&state, me.user_id.clone(), path.into_inner()).await?;
    wrap(&state, &me, email).await
}

async fn attempt_verification(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<EmailAddressId>,
    FapiForm(body): FapiForm<VerificationBody>,
) -> Reply {
    let email = account::attempt_email_verification(
        &state,
        me.user_id.clone(),
        path.into_inner(),
        body.code,
    )
    .await?;
    wrap(&state, &me, email).await
}
