//! `POST /v1/client/sign_ups` with `transfer=true`: a sign-in at an
//! enterprise IdP vouched for a person with no account, and the instance
//! needs more for a new user than the IdP gave (a username). clerk-js and
//! the Android SDK then create a sign-up with `transfer=true` and the
//! missing fields; it takes the verified identity from the client's
//! transferable sign-in (once) and completes at once: the user with the
//! IdP's verified email and the enterprise account, the connection's
//! organization, a session.

use super::model::{status, SignUpRow};
use super::service::{insert, CreateSignUp, SIGN_UP_TTL_MS};
use crate::crypto::ids::{new_id, prefix};
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientId, OrgIdOrSlug};
use crate::modules::signin::external as signin;
use crate::modules::users::service::{
    self as users, EnterpriseSignIn, ExternalIdentity, SocialSignIn,
};
use crate::modules::{orgs, session};
use crate::state::AppState;
use crate::time::now_ms;

/// What the sign-up shows of the person.
struct Profile {
    email_address: String,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

fn nothing_to_transfer() -> ApiError {
    ApiError::new(
        ErrorCode::FormParamValueInvalid,
        "Nothing to transfer",
        "This client has no sign-in waiting to be transferred to a sign-up.",
    )
    .with_param("transfer")
}

/// Creates and completes the sign-up from the client's transferable
/// sign-in, with what `input` adds (a username).
pub async fn create(
    state: &AppState,
    client_id: ClientId,
    input: CreateSignUp,
) -> Result<SignUpRow, ApiError> {
    let username = input.username.filter(|u| !u.trim().is_empty());
    if username.is_none() && state.settings.auth.username_required {
        return Err(ApiError::param_missing("username"));
    }
    // Checked before the identity is taken, so a taken username can be
    // corrected and the sign-up sent again.
    users::check_new_identity(
        state,
        None,
        username.clone(),
        None,
        None,
        None,
        serde_json::Value::Object(Default::default()),
    )
    .await?;
    let (payload, strategy) = signin::take_transfer(state, client_id.clone())
        .await?
        .ok_or_else(nothing_to_transfer)?;
    let identity: ExternalIdentity = serde_json::from_str(&payload).map_err(ApiError::internal)?;
    let (user, profile) = match identity {
        ExternalIdentity::Enterprise(mut identity) => {
            identity.username = username;
            let user = match users::sign_in_enterprise(state, identity.clone()).await? {
                EnterpriseSignIn::User(user) => user,
                EnterpriseSignIn::NeedsSignUp => return Err(ApiError::param_missing("username")),
            };
            if let Some(org_id) = identity.organization_id.clone() {
                let joined = orgs::memberships::join_with_default_role(
                    state,
                    OrgIdOrSlug::from(org_id),
                    user.user_id.clone(),
                )
                .await;
                if let Err(error) = joined {
                    tracing::warn!(%error, "transferred SSO user not added to the connection's organization");
                }
            }
            let profile = Profile {
                email_address: identity.email_address,
                username: identity.username,
                first_name: identity.first_name,
                last_name: identity.last_name,
            };
            (user, profile)
        }
        ExternalIdentity::Social(mut identity) => {
            identity.new_username = username;
            let user = match users::sign_in_social(state, identity.clone()).await? {
                SocialSignIn::User(user) => user,
                // The provider shared no email address, or a username is
                // still missing.
                SocialSignIn::NeedsSignUp if identity.email_address.is_empty() => {
                    return Err(ApiError::param_missing("email_address"))
                }
                SocialSignIn::NeedsSignUp => return Err(ApiError::param_missing("username")),
            };
            let profile = Profile {
                email_address: identity.email_address,
                username: identity.new_username,
                first_name: identity.first_name,
                last_name: identity.last_name,
            };
            (user, profile)
        }
    };
    let session = session::service::create_session(
        state,
        client_id.clone(),
        user.user_id.clone(),
        Some(strategy.as_str()),
    )
    .await?;
    users::record_sign_in(state, user.user_id.clone(), &strategy).await?;
    let now = now_ms();
    let row = SignUpRow {
        id: new_id(prefix::SIGN_UP),
        client_id: client_id.to_string(),
        status: status::COMPLETE.to_owned(),
        email_address: Some(profile.email_address),
        username: profile.username,
        first_name: profile.first_name,
        last_name: profile.last_name,
        password_digest: None,
        unsafe_metadata: "{}".to_owned(),
        email_verification_status: Some("verified".to_owned()),
        code_digest: None,
        code_expire_at: None,
        code_attempts: 0,
        code_sends: 0,
        code_last_sent_at: None,
        created_user_id: Some(user.user_id.to_string()),
        created_session_id: Some(session.id),
        abandon_at: now + SIGN_UP_TTL_MS,
        created_at: now,
        updated_at: now,
        organization_invitation_id: None,
        external_sign_in_id: None,
    };
    insert(state, &row).await?;
    Ok(row)
}
