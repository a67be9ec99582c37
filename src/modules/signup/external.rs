//! `POST /v1/client/sign_ups` with a social or enterprise strategy
//! (`strategy=oauth_google`, …): the sign-up is carried by a sign-in
//! attempt at the provider, started through the sign-in service. The
//! provider's answer finishes that attempt — the person's user is created
//! (or found: someone who already has an account is simply signed in) and
//! a session opened — and the sign-up shows it: its
//! `verifications.external_account` is the attempt's verification, and it
//! is complete once the attempt is, with the attempt's session and user.

use serde_json::Value;

use super::model::{status, SignUpRow};
use super::service::{insert, CreateSignUp, SIGN_UP_TTL_MS};
use crate::crypto::ids::{new_id, prefix};
use crate::http::ApiError;
use crate::ids::{ClientId, SignInId, SignUpId};
use crate::modules::session;
use crate::modules::signin::external::{self as signin, ExternalParams};
use crate::state::AppState;
use crate::time::now_ms;

/// Whether `strategy` is finished at an outside provider.
pub fn is_external(strategy: &str) -> bool {
    strategy.starts_with("oauth_") || matches!(strategy, "enterprise_sso" | "saml")
}

/// Starts the sign-up at the provider; the answer carries its URL.
pub async fn create(
    state: &AppState,
    client_id: ClientId,
    strategy: String,
    input: CreateSignUp,
) -> Result<SignUpRow, ApiError> {
    let attempt = signin::create(
        state,
        client_id.clone(),
        ExternalParams {
            strategy,
            identifier: input.email_address.filter(|e| !e.trim().is_empty()),
            redirect_url: input.redirect_url,
            enterprise_connection_id: None,
            native: input.native,
        },
    )
    .await?;
    let now = now_ms();
    let row = SignUpRow {
        id: new_id(prefix::SIGN_UP),
        client_id: client_id.to_string(),
        status: status::MISSING_REQUIREMENTS.to_owned(),
        email_address: None,
        username: None,
        first_name: None,
        last_name: None,
        password_digest: None,
        unsafe_metadata: "{}".to_owned(),
        email_verification_status: None,
        code_digest: None,
        code_expire_at: None,
        code_attempts: 0,
        code_sends: 0,
        code_last_sent_at: None,
        created_user_id: None,
        created_session_id: None,
        abandon_at: now + SIGN_UP_TTL_MS,
        created_at: now,
        updated_at: now,
        organization_invitation_id: None,
        external_sign_in_id: Some(attempt.id),
    };
    insert(state, &row).await?;
    session::service::set_client_attempt(
        state,
        client_id,
        row.external_sign_in_id.clone().map(SignInId::from),
        Some(SignUpId::from(row.id.clone())),
    )
    .await?;
    Ok(row)
}

/// `object` with what the carrying attempt shows.
pub async fn with_attempt(
    state: &AppState,
    row: &SignUpRow,
    mut object: Value,
) -> Result<Value, ApiError> {
    let Some(attempt_id) = row.external_sign_in_id.clone() else {
        return Ok(object);
    };
    let view = signin::view(
        state,
        ClientId::from(row.client_id.clone()),
        SignInId::from(attempt_id),
    )
    .await?;
    if let Some(view) = view {
        object["verifications"]["external_account"] = view.verification;
        if view.complete {
            object["status"] = Value::from(status::COMPLETE);
            object["missing_fields"] = Value::Array(Vec::new());
            object["created_session_id"] = view.created_session_id.into();
            object["created_user_id"] = view.user_id.into();
        }
    }
    Ok(object)
}

/// `GET /v1/client/sign_ups/{id}?rotating_token_nonce=…`: a native app
/// back from the provider redeems the nonce on the carrying attempt.
pub async fn redeem_nonce(
    state: &AppState,
    client_id: ClientId,
    row: &SignUpRow,
    nonce: &str,
) -> Result<(), ApiError> {
    let attempt = row.external_sign_in_id.clone().ok_or_else(|| {
        ApiError::param_value(
            "rotating_token_nonce",
            "This sign-up was not started at an outside provider.",
        )
    })?;
    signin::redeem_nonce(state, client_id, SignInId::from(attempt), nonce)
        .await
        .map(drop)
}
