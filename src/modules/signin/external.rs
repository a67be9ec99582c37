//! Sign-ins finished at an outside identity provider (`enterprise_sso`,
//! `saml`): the attempt is handed to the area that speaks to the provider
//! ([`crate::modules::external_sign_in`]), which sends the browser there
//! and, once the provider has answered, finishes (or fails) the attempt
//! through [`finish`] / [`fail`]. A native app completes with the one-time
//! nonce its redirect carried ([`redeem_nonce`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::model::{status, SignInRow};
use super::service::{self as signin, complete_as, ensure_may_sign_in, new_row};
use crate::http::fapi::origin_allowed;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientId, SignInId, UserId};
use crate::modules::external_sign_in::{self, StartRequest};
use crate::modules::session;
use crate::modules::users::service as users;
use crate::state::AppState;
use crate::time::now_ms;

/// What a create or prepare with an external strategy carries.
#[derive(Debug, Clone, Default)]
pub struct ExternalParams {
    pub strategy: String,
    pub identifier: Option<String>,
    pub redirect_url: Option<String>,
    pub enterprise_connection_id: Option<String>,
    pub native: bool,
}

/// Where the browser may be sent back to: a page on an allowed origin, or,
/// for a native app, its own URL scheme (`clerk://…callback`).
pub fn check_redirect_url(
    state: &AppState,
    url: Option<&str>,
    native: bool,
) -> Result<String, ApiError> {
    let url = url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::param_missing("redirect_url"))?;
    let parsed = url::Url::parse(url).map_err(|_| {
        ApiError::param_format("redirect_url", "redirect_url must be an absolute URL.")
    })?;
    let web = matches!(parsed.scheme(), "http" | "https");
    let allowed = if web {
        origin_allowed(state, &parsed.origin().ascii_serialization())
    } else {
        native && !matches!(parsed.scheme(), "javascript" | "data" | "file" | "blob")
    };
    if !allowed {
        return Err(ApiError::param_value(
            "redirect_url",
            "redirect_url must be on the instance's URL or one of frontend.allowed_origins.",
        ));
    }
    Ok(url.to_owned())
}

/// Starts (or restarts) the attempt `row` at the provider of `params.strategy`.
pub async fn start(
    state: &AppState,
    mut row: SignInRow,
    params: ExternalParams,
) -> Result<SignInRow, ApiError> {
    let provider =
        external_sign_in::provider(&state.settings, &params.strategy).ok_or_else(|| {
            ApiError::param_value("strategy", "This sign-in strategy is not enabled.")
                .with_param("strategy")
        })?;
    let redirect_url = check_redirect_url(state, params.redirect_url.as_deref(), params.native)?;
    let identifier = params
        .identifier
        .or_else(|| row.identifier.clone())
        .map(|i| i.trim().to_lowercase())
        .filter(|i| !i.is_empty());
    // Social sign-ins (`oauth_<provider>`) learn who it is from the
    // provider; enterprise SSO needs the address (or connection) to route.
    let social = params.strategy.starts_with("oauth_");
    if identifier.is_none() && params.enterprise_connection_id.is_none() && !social {
        return Err(ApiError::param_missing("identifier"));
    }
    if let Some(user_id) = &row.user_id {
        ensure_may_sign_in(
            &users::sign_in_user_by_id(state, UserId::from(user_id.clone())).await?,
        )?;
    }
    let started = provider
        .start(
            state,
            StartRequest {
                sign_in_id: SignInId::from(row.id.clone()),
                client_id: ClientId::from(row.client_id.clone()),
                strategy: params.strategy.clone(),
                identifier: identifier.clone(),
                connection_id: params.enterprise_connection_id,
                redirect_url,
                native: params.native,
            },
        )
        .await?;
    row.identifier = identifier;
    row.status = status::NEEDS_FIRST_FACTOR.to_owned();
    row.first_factor_strategy = Some(params.strategy);
    row.first_factor_status = Some("unverified".to_owned());
    row.first_factor_error = None;
    row.external_redirect_url = Some(started.redirect_url);
    row.code_expire_at = Some(started.expire_at);
    row.enterprise_connection_id = Some(started.connection_id);
    row.enterprise_connection_name = Some(started.connection_name);
    row.updated_at = now_ms();
    Ok(row)
}

/// A new attempt on `client_id` that starts at the provider at once
/// (`POST /v1/client/sign_ins` with an external strategy).
pub async fn create(
    state: &AppState,
    client_id: ClientId,
    params: ExternalParams,
) -> Result<SignInRow, ApiError> {
    let user = match params
        .identifier
        .as_deref()
        .filter(|i| !i.trim().is_empty())
    {
        Some(identifier) => users::find_by_identifier(state, identifier.to_owned()).await?,
        None => None,
    };
    let row = new_row(&client_id, None, user.map(|u| u.id));
    let row = start(state, row, params).await?;
    signin::insert(state, &row).await?;
    session::service::set_client_attempt(
        state,
        client_id,
        Some(SignInId::from(row.id.clone())),
        None,
    )
    .await?;
    Ok(row)
}

/// A new attempt on `client_id` for an answer the provider sent unasked
/// (IdP-initiated sign-in), waiting to be finished at once.
pub async fn begin_idp_initiated(
    state: &AppState,
    client_id: ClientId,
    (connection_id, connection_name): (String, String),
) -> Result<SignInId, ApiError> {
    let mut row = new_row(&client_id, None, None);
    row.status = status::NEEDS_FIRST_FACTOR.to_owned();
    row.first_factor_strategy = Some("enterprise_sso".to_owned());
    row.first_factor_status = Some("unverified".to_owned());
    row.enterprise_connection_id = Some(connection_id);
    row.enterprise_connection_name = Some(connection_name);
    signin::insert(state, &row).await?;
    session::service::set_client_attempt(
        state,
        client_id,
        Some(SignInId::from(row.id.clone())),
        None,
    )
    .await?;
    Ok(SignInId::from(row.id))
}

/// An attempt waiting for the provider's answer with `strategy`.
async fn waiting(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
) -> Result<SignInRow, ApiError> {
    let row = signin::get(state, client_id, id).await?;
    // A failed attempt still waits: an answer refused for what it said
    // (or forged with a known RelayState) must not keep the IdP's genuine
    // answer to the same request from finishing it.
    let waiting = row.status != status::COMPLETE
        && now_ms() < row.abandon_at
        && matches!(
            row.first_factor_status.as_deref(),
            Some("unverified" | "failed")
        )
        && row
            .first_factor_strategy
            .as_deref()
            .is_some_and(super::model::is_external);
    if !waiting {
        return Err(ApiError::new(
            ErrorCode::VerificationExpired,
            "This sign-in is no longer waiting for its identity provider.",
            "This sign-in is complete, expired or was restarted. Start a new sign-in.",
        ));
    }
    Ok(row)
}

/// Finishes the attempt as `user_id`, after the provider vouched for them:
/// a session is created and the attempt completed. For a native app the
/// answer is a one-time nonce, for its redirect.
pub async fn finish(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
    user_id: UserId,
    native: bool,
) -> Result<Option<String>, ApiError> {
    let mut row = waiting(state, client_id, id).await?;
    ensure_may_sign_in(&users::sign_in_user_by_id(state, user_id.clone()).await?)?;
    let strategy = row
        .first_factor_strategy
        .clone()
        .unwrap_or_else(|| "enterprise_sso".to_owned());
    let nonce = native.then(|| {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    });
    row.rotating_token_nonce_digest = nonce.as_deref().map(digest);
    row.user_id = Some(user_id.to_string());
    row.external_redirect_url = None;
    complete_as(state, row, user_id, &strategy).await?;
    Ok(nonce)
}

/// Marks the attempt failed with `error` (shown on the sign-in as its
/// verification's error); nothing else changes.
pub async fn fail(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
    error: &ApiError,
) -> Result<(), ApiError> {
    let mut row = waiting(state, client_id, id).await?;
    let body = error.body();
    row.first_factor_status = Some("failed".to_owned());
    row.first_factor_error = body["errors"].get(0).map(|e| e.to_string());
    row.external_redirect_url = None;
    row.updated_at = now_ms();
    signin::save(state, &row).await
}

/// Marks the attempt `transferable`: the provider vouched for a person who
/// has no account, and a new user needs more than it gave. `identity` is
/// kept for the sign-up that takes it ([`take_transfer`]).
pub async fn transferable(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
    identity: String,
) -> Result<(), ApiError> {
    let mut row = waiting(state, client_id, id).await?;
    row.first_factor_status = Some("transferable".to_owned());
    row.first_factor_error = Some(
        serde_json::json!({
            "code": "external_account_not_found",
            "message": "Invalid external account",
            "long_message": "The External Account was not found.",
            "meta": {},
        })
        .to_string(),
    );
    row.transfer_identity = Some(identity);
    row.external_redirect_url = None;
    row.updated_at = now_ms();
    signin::save(state, &row).await
}

/// Takes the identity of the client's transferable attempt, once: the
/// first sign-up with `transfer=true` gets it, with the attempt's strategy.
pub async fn take_transfer(
    state: &AppState,
    client_id: ClientId,
) -> Result<Option<(String, String)>, ApiError> {
    let now = now_ms();
    let taken = signin::pool(state)
        .run("sign_ins.take_transfer", move |conn| {
            super::store::take_transfer(conn, client_id.as_str(), now).map_err(ApiError::from)
        })
        .await?;
    Ok(taken.map(|(identity, strategy)| {
        (
            identity,
            strategy.unwrap_or_else(|| "enterprise_sso".to_owned()),
        )
    }))
}

/// What a sign-up carried by attempt `id` shows of it: the attempt's
/// verification (as `verifications.external_account`), and, once it is
/// complete, its session and user.
#[derive(Debug, Clone)]
pub struct AttemptView {
    pub verification: serde_json::Value,
    pub complete: bool,
    pub created_session_id: Option<String>,
    pub user_id: Option<String>,
}

/// The attempt `id` of `client_id`, as a sign-up it carries shows it.
pub async fn view(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
) -> Result<Option<AttemptView>, ApiError> {
    let row = match signin::get(state, client_id, id).await {
        Ok(row) => row,
        Err(e) if e.code() == ErrorCode::ResourceNotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let object = super::model::sign_in_object(&row, None, now_ms());
    Ok(Some(AttemptView {
        verification: object["first_factor_verification"].clone(),
        complete: row.status == status::COMPLETE,
        created_session_id: row.created_session_id,
        user_id: row.user_id,
    }))
}

/// How an attempt at an outside provider ended, for the browser's (or the
/// native app's) return to `redirect_url`.
#[derive(Debug, Clone)]
pub enum Return {
    /// Signed in; a native app gets its one-time nonce.
    SignedIn(Option<String>),
    /// A new person: the attempt waits for a sign-up with `transfer=true`.
    Transferred,
    /// Refused, with the error's code (shown on the attempt as well).
    Failed(String),
}

/// Where the browser goes back to. The web reads the outcome from the
/// client; a native app reads it from the query, as the Android SDK does:
/// `rotating_token_nonce`, or `__clerk_status=failed&__clerk_error_code=…`
/// (`external_account_not_found` asking for the transfer).
pub fn return_url(redirect_url: &str, native: bool, outcome: &Return) -> String {
    if !native {
        return redirect_url.to_owned();
    }
    let mut url = match url::Url::parse(redirect_url) {
        Ok(url) => url,
        Err(_) => return redirect_url.to_owned(),
    };
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            Return::SignedIn(Some(nonce)) => {
                query.append_pair("rotating_token_nonce", nonce);
            }
            Return::SignedIn(None) => {}
            Return::Transferred => {
                query
                    .append_pair("__clerk_status", "failed")
                    .append_pair("__clerk_error_code", "external_account_not_found");
            }
            Return::Failed(code) => {
                query
                    .append_pair("__clerk_status", "failed")
                    .append_pair("__clerk_error_code", code);
            }
        }
    }
    url.to_string()
}

fn digest(nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(nonce.as_bytes()))
}

/// `GET /v1/client/sign_ins/{id}?rotating_token_nonce=…`: a native app
/// back from the provider proves it holds the nonce its redirect carried;
/// the nonce is used up. The caller then hands the app a new client token.
pub async fn redeem_nonce(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
    nonce: &str,
) -> Result<SignInRow, ApiError> {
    let row = signin::get(state, client_id, id).await?;
    // One conditional update uses the nonce up: of two requests with it,
    // one gets through. Only digests are compared, in the database.
    let (sign_in_id, presented) = (row.id.clone(), digest(nonce));
    let redeemed = signin::pool(state)
        .run("sign_ins.redeem_nonce", move |conn| {
            super::store::take_nonce(conn, &sign_in_id, &presented).map_err(ApiError::from)
        })
        .await?;
    if !redeemed {
        return Err(ApiError::param_value(
            "rotating_token_nonce",
            "The rotating token nonce is not valid for this sign-in.",
        ));
    }
    Ok(row)
}
