//! `GET /v1/oauth_callback` (and `POST`, for providers that post their
//! answer): where providers send the browser back. The `state` finds the
//! authorization request (used once), which names the sign-in and client;
//! the code is exchanged and the person read (ID token or user API); the
//! users service finds, links or creates the user, and the sign-in is
//! finished (or made transferable, or failed) before the browser goes back
//! to the app's `redirect_url`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, ResponseError};
use serde::Deserialize;

use super::flow::{self, StateRow};
use super::{client, connections, OauthState};
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientId, SignInId};
use crate::instance::encryption::configured_key;
use crate::modules::signin::external::{self as signin, Return};
use crate::modules::users::service::{
    self as users, oauth_token_context, ExternalIdentity, SocialIdentity, SocialSignIn,
};
use crate::state::AppState;

/// What a provider sends back (RFC 6749 §4.1.2, §4.1.2.1).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Sent by some providers; the token response's scopes are used.
    pub scope: Option<String>,
    /// RFC 9207's issuer; the ID token's is what is checked.
    pub iss: Option<String>,
}

fn invalid(detail: &str) -> ApiError {
    ApiError::new(
        ErrorCode::OauthCallbackInvalid,
        "Invalid OAuth callback",
        format!("Invalid OAuth callback: {detail}."),
    )
}

fn count(outcome: &'static str) {
    metrics::counter!("steward_oauth_callbacks_total", "outcome" => outcome).increment(1);
}

fn see_other(url: &str) -> HttpResponse {
    let mut builder = HttpResponse::SeeOther();
    builder.insert_header((LOCATION, url));
    crate::http::private_response(&mut builder);
    builder.finish()
}

/// Handles one return from a provider.
pub async fn handle(state: &AppState, params: CallbackParams) -> HttpResponse {
    let Some(raw_state) = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
    else {
        count("invalid");
        return invalid("the state is missing").error_response();
    };
    let (request, verifier) = match flow::consume(state, raw_state).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            count("unknown_state");
            tracing::warn!("OAuth callback with an unknown, expired or used state");
            return invalid("the state is unknown, expired or already used").error_response();
        }
        Err(error) => return error.error_response(),
    };
    let outcome = finish(state, &request, &verifier, &params).await;
    let returned = match outcome {
        Ok(returned) => {
            count("accepted");
            returned
        }
        Err(error) => {
            count("refused");
            tracing::warn!(strategy = %request.strategy, code = error.code().as_str(), error = %error, "OAuth sign-in refused");
            if let Some(sign_in_id) = &request.sign_in_id {
                let marked = signin::fail(
                    state,
                    ClientId::from(request.client_id.clone()),
                    SignInId::from(sign_in_id.clone()),
                    &error,
                )
                .await;
                if let Err(e) = marked {
                    tracing::warn!(error = %e, "marking the OAuth sign-in failed did not work");
                }
            }
            Return::Failed(error.code().as_str().to_owned())
        }
    };
    see_other(&signin::return_url(
        &request.redirect_url,
        request.native,
        &returned,
    ))
}

async fn finish(
    state: &AppState,
    request: &StateRow,
    verifier: &str,
    params: &CallbackParams,
) -> Result<Return, ApiError> {
    if let Some(error) = params.error.as_deref().filter(|e| !e.is_empty()) {
        let denied = error == "access_denied";
        return Err(ApiError::new(
            if denied {
                ErrorCode::OauthAccessDenied
            } else {
                ErrorCode::OauthCallbackInvalid
            },
            if denied {
                "Access denied"
            } else {
                "Provider error"
            },
            match params.error_description.as_deref() {
                Some(description) => format!(
                    "The provider answered {error}: {}",
                    description.chars().take(200).collect::<String>()
                ),
                None => format!("The provider answered {error}."),
            },
        ));
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| invalid("the code is missing"))?;
    let oauth = OauthState::of(state)?;
    let connection = connections::enabled(state, &request.strategy).await?;
    let person = client::exchange(
        &oauth.http,
        &connection,
        &flow::callback_url(state),
        code,
        verifier,
        &request.nonce,
    )
    .await?;
    let key = configured_key(&state.settings).map_err(ApiError::internal)?;
    let context = oauth_token_context(&request.strategy, &person.provider_user_id);
    let seal = |token: &str| {
        key.seal(token.as_bytes(), &context)
            .map_err(ApiError::internal)
    };
    let identity = SocialIdentity {
        provider: request.strategy.clone(),
        provider_user_id: person.provider_user_id.clone(),
        email_address: person.email.clone().unwrap_or_default(),
        email_verified: person.email_verified,
        first_name: person.first_name.clone(),
        last_name: person.last_name.clone(),
        image_url: person.image_url.clone(),
        username: person.username.clone(),
        approved_scopes: person.scopes.join(" "),
        access_token: Some(seal(&person.access_token)?),
        refresh_token: person.refresh_token.as_deref().map(seal).transpose()?,
        token_expires_at: person.expires_at,
        new_username: None,
    };
    let client_id = ClientId::from(request.client_id.clone());
    let sign_in_id = match (&request.sign_in_id, &request.user_id) {
        (Some(id), _) => SignInId::from(id.clone()),
        (None, Some(user_id)) => {
            // `POST /v1/me/external_accounts`: connect it to that user.
            users::connect_social(state, crate::ids::UserId::from(user_id.clone()), identity)
                .await?;
            return Ok(Return::SignedIn(None));
        }
        (None, None) => return Err(invalid("the request names no sign-in")),
    };
    match users::sign_in_social(state, identity.clone()).await? {
        SocialSignIn::User(user) => {
            let nonce =
                signin::finish(state, client_id, sign_in_id, user.user_id, request.native).await?;
            Ok(Return::SignedIn(nonce))
        }
        SocialSignIn::NeedsSignUp => {
            let payload = serde_json::to_string(&ExternalIdentity::Social(identity))
                .map_err(ApiError::internal)?;
            signin::transferable(state, client_id, sign_in_id, payload).await?;
            Ok(Return::Transferred)
        }
    }
}
