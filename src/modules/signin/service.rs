//! Sign-in attempts: identify the user, check a first factor, and hand the
//! completed sign-in to the session service.

use serde::Deserialize;
use serde_json::Value;

use super::external::{self, ExternalParams};
use super::model::{self, status, SignInRow};
use super::store;
use crate::crypto::ids::{self, new_id, prefix};
use crate::crypto::otp;
use crate::db::DbPool;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientId, SignInId, UserId};
use crate::modules::users::service::{self as users, CheckOutcome, SignInUser};
use crate::modules::{session, Module};
use crate::notify::CodePurpose;
use crate::state::AppState;
use crate::time::now_ms;

/// How long an unfinished sign-in stays usable.
const SIGN_IN_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest identifier or password accepted.
const MAX_INPUT_LEN: usize = 4096;

pub(super) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Signin).clone()
}

/// `POST /v1/client/sign_ins` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CreateSignIn {
    pub identifier: Option<String>,
    /// The Android SDK's name for the identifier of an SSO sign-in.
    pub email_address: Option<String>,
    pub password: Option<String>,
    pub strategy: Option<String>,
    pub ticket: Option<String>,
    pub redirect_url: Option<String>,
    /// Where clerk-js goes once it has handled the return; the browser is
    /// sent back to `redirect_url`, which clerk-js then reads.
    pub action_complete_redirect_url: Option<String>,
    pub enterprise_connection_id: Option<String>,
    /// Set by the handler: the caller is a native app.
    #[serde(skip)]
    pub native: bool,
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct AttemptFirstFactor {
    pub strategy: Option<String>,
    pub password: Option<String>,
    pub code: Option<String>,
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct PrepareFirstFactor {
    pub strategy: Option<String>,
    pub email_address_id: Option<String>,
    pub redirect_url: Option<String>,
    pub action_complete_redirect_url: Option<String>,
    pub enterprise_connection_id: Option<String>,
    /// An OpenID Connect `prompt`; SAML connections have none.
    pub oidc_prompt: Option<String>,
    /// Set by the handler: the caller is a native app.
    #[serde(skip)]
    pub native: bool,
}

fn identifier_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::FormIdentifierNotFound,
        "Couldn't find your account.",
        "Couldn't find your account.",
    )
    .with_param("identifier")
}

fn too_long(param: &str, value: &Option<String>) -> Result<(), ApiError> {
    if value.as_ref().is_some_and(|v| v.len() > MAX_INPUT_LEN) {
        return Err(ApiError::param_too_long(param, MAX_INPUT_LEN));
    }
    Ok(())
}

/// Refuses users who may not sign in at all.
pub(super) fn ensure_may_sign_in(user: &SignInUser) -> Result<(), ApiError> {
    if user.banned {
        return Err(ApiError::new(
            ErrorCode::UserBanned,
            "Account banned",
            "This account has been banned.",
        ));
    }
    if let Some(seconds) = user.lockout_expires_in_seconds {
        return Err(users::user_locked(seconds));
    }
    Ok(())
}

/// Checks the password, records the outcome for lockout, and says why not.
/// A lock that fired while the password was being hashed wins over a
/// matching password (see `users::record_credential_check`).
async fn check_password(
    state: &AppState,
    user: &SignInUser,
    password: String,
) -> Result<(), ApiError> {
    let Some((hasher, digest)) = user.password.clone() else {
        return Err(ApiError::new(
            ErrorCode::StrategyForUserInvalid,
            "Invalid strategy",
            "This account has no password. Use another sign-in method.",
        )
        .with_param("strategy"));
    };
    let passwords = state.passwords.clone();
    let verified = state
        .hash_threads
        .run(move || passwords.verify(hasher, &digest, &password))
        .await?;
    match users::record_credential_check(state, user.id.clone(), "password", verified).await? {
        CheckOutcome::Accepted => Ok(()),
        CheckOutcome::Locked(seconds) => Err(users::user_locked(seconds)),
        CheckOutcome::Rejected => Err(ApiError::new(
            ErrorCode::FormPasswordIncorrect,
            "Password is incorrect. Try again, or use another method.",
            "Password is incorrect. Try again, or use another method.",
        )
        .with_param("password")),
    }
}

/// Spends what a real password check costs, so an unknown identifier is
/// not told apart from a wrong password by the response time.
async fn equalise_timing(state: &AppState, password: String) -> Result<(), ApiError> {
    let passwords = state.passwords.clone();
    state
        .hash_threads
        .run(move || passwords.verify_nothing(&password))
        .await
        .map_err(ApiError::from)
}

/// Completes the sign-in: a new session, and the attempt marked complete.
pub(super) async fn complete_as(
    state: &AppState,
    mut row: SignInRow,
    user_id: UserId,
    strategy: &str,
) -> Result<SignInRow, ApiError> {
    let session = session::service::create_session(
        state,
        ClientId::from(row.client_id.clone()),
        user_id.clone(),
        Some(strategy),
    )
    .await?;
    users::record_sign_in(state, user_id, strategy).await?;
    row.status = status::COMPLETE.to_owned();
    row.first_factor_strategy = Some(strategy.to_owned());
    row.first_factor_status = Some("verified".to_owned());
    row.created_session_id = Some(session.id);
    row.updated_at = now_ms();
    let saved = row.clone();
    pool(state)
        .run("sign_ins.save", move |conn| {
            store::save(conn, &saved).map_err(ApiError::from)
        })
        .await?;
    Ok(row)
}

pub(super) async fn insert(state: &AppState, row: &SignInRow) -> Result<(), ApiError> {
    let saved = row.clone();
    pool(state)
        .run("sign_ins.create", move |conn| {
            store::insert(conn, &saved).map_err(ApiError::from)
        })
        .await
}

/// A fresh attempt: waiting for a first factor when the user is known,
/// for an identifier otherwise.
pub(super) fn new_row(
    client_id: &ClientId,
    identifier: Option<String>,
    user_id: Option<UserId>,
) -> SignInRow {
    let now = now_ms();
    SignInRow {
        id: new_id(prefix::SIGN_IN),
        client_id: client_id.to_string(),
        status: if user_id.is_some() {
            status::NEEDS_FIRST_FACTOR
        } else {
            status::NEEDS_IDENTIFIER
        }
        .to_owned(),
        identifier,
        user_id: user_id.map(String::from),
        first_factor_strategy: None,
        first_factor_status: None,
        email_address_id: None,
        code_digest: None,
        code_expire_at: None,
        code_attempts: 0,
        code_sends: 0,
        code_last_sent_at: None,
        created_session_id: None,
        abandon_at: now + SIGN_IN_TTL_MS,
        created_at: now,
        updated_at: now,
        external_redirect_url: None,
        first_factor_error: None,
        rotating_token_nonce_digest: None,
        enterprise_connection_id: None,
        enterprise_connection_name: None,
        transfer_identity: None,
    }
}

/// `POST /v1/client/sign_ins`.
pub async fn create(
    state: &AppState,
    client_id: ClientId,
    input: CreateSignIn,
) -> Result<SignInRow, ApiError> {
    too_long("identifier", &input.identifier)?;
    too_long("password", &input.password)?;
    match input.strategy.as_deref() {
        Some("ticket") => return sign_in_with_ticket(state, client_id, input.ticket).await,
        Some(strategy) if super::model::is_external(strategy) => {
            let params = ExternalParams {
                strategy: strategy.to_owned(),
                identifier: input.identifier.or(input.email_address),
                redirect_url: input.redirect_url,
                enterprise_connection_id: input.enterprise_connection_id,
                native: input.native,
            };
            return external::create(state, client_id, params).await;
        }
        None | Some("") | Some("password") | Some("email_code") => {}
        Some(_) => {
            return Err(ApiError::param_value(
                "strategy",
                "This sign-in strategy is not supported.",
            )
            .with_param("strategy"))
        }
    }
    let identifier = input.identifier.filter(|i| !i.trim().is_empty());
    let password = input.password.filter(|p| !p.is_empty());
    let user = match &identifier {
        Some(identifier) => users::find_by_identifier(state, identifier.clone()).await?,
        None => None,
    };
    if identifier.is_some() && user.is_none() {
        if let Some(password) = password {
            equalise_timing(state, password).await?;
        }
        return Err(identifier_not_found());
    }
    if let Some(user) = &user {
        ensure_may_sign_in(user)?;
    }
    let row = new_row(
        &client_id,
        identifier.map(|i| i.trim().to_lowercase()),
        user.as_ref().map(|u| u.id.clone()),
    );
    insert(state, &row).await?;
    session::service::set_client_attempt(
        state,
        client_id,
        Some(SignInId::from(row.id.clone())),
        None,
    )
    .await?;
    match (user, password) {
        (Some(user), Some(password)) => {
            check_password(state, &user, password).await?;
            complete_as(state, row, user.id, "password").await
        }
        _ => Ok(row),
    }
}

/// The `ticket` strategy: a sign-in token from the Backend API signs its
/// user in at once.
async fn sign_in_with_ticket(
    state: &AppState,
    client_id: ClientId,
    ticket: Option<String>,
) -> Result<SignInRow, ApiError> {
    let ticket = ticket
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::param_missing("ticket"))?;
    let user_id = super::tickets::accept(state, ticket).await?;
    let user = users::sign_in_user_by_id(state, user_id.clone()).await?;
    ensure_may_sign_in(&user)?;
    let row = new_row(&client_id, None, Some(user_id.clone()));
    insert(state, &row).await?;
    complete_as(state, row, user_id, "ticket").await
}

/// The caller's sign-in attempt `id`.
pub async fn get(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
) -> Result<SignInRow, ApiError> {
    if !ids::has_shape(id.as_str(), prefix::SIGN_IN) {
        return Err(ApiError::not_found("sign in"));
    }
    pool(state)
        .run("sign_ins.get", move |conn| {
            store::find(conn, id.as_str())?
                .filter(|row| row.client_id == client_id.as_str())
                .ok_or_else(|| ApiError::not_found("sign in"))
        })
        .await
}

pub(super) async fn save(state: &AppState, row: &SignInRow) -> Result<(), ApiError> {
    let saved = row.clone();
    pool(state)
        .run("sign_ins.save", move |conn| {
            store::save(conn, &saved).map_err(ApiError::from)
        })
        .await
}

/// A sign-in that can still take a first factor, with its user.
async fn open_sign_in(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
) -> Result<(SignInRow, UserId), ApiError> {
    let row = get(state, client_id, id).await?;
    if row.status == status::COMPLETE || now_ms() >= row.abandon_at {
        return Err(ApiError::new(
            ErrorCode::VerificationExpired,
            "This sign-in has expired or is already complete.",
            "This sign-in has expired or is already complete. Start a new sign-in.",
        ));
    }
    let user_id = row
        .user_id
        .clone()
        .map(UserId::from)
        .ok_or_else(|| ApiError::param_missing("identifier"))?;
    Ok((row, user_id))
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor` with `email_code`:
/// emails a code to the chosen (or primary) address of the user.
pub async fn prepare_first_factor(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
    input: PrepareFirstFactor,
) -> Result<SignInRow, ApiError> {
    if let Some(strategy) = input
        .strategy
        .as_deref()
        .filter(|s| super::model::is_external(s))
    {
        let row = get(state, client_id, id).await?;
        if row.status == status::COMPLETE || now_ms() >= row.abandon_at {
            return Err(ApiError::new(
                ErrorCode::VerificationExpired,
                "This sign-in has expired or is already complete.",
                "This sign-in has expired or is already complete. Start a new sign-in.",
            ));
        }
        let params = ExternalParams {
            strategy: strategy.to_owned(),
            identifier: None,
            redirect_url: input.redirect_url,
            enterprise_connection_id: input.enterprise_connection_id,
            native: input.native,
        };
        let row = external::start(state, row, params).await?;
        save(state, &row).await?;
        return Ok(row);
    }
    otp::require_email_code(input.strategy.as_deref())?;
    let (mut row, user_id) = open_sign_in(state, client_id, id).await?;
    let user = users::sign_in_user_by_id(state, user_id).await?;
    ensure_may_sign_in(&user)?;
    let wanted = input
        .email_address_id
        .or_else(|| user.primary_email_address_id.clone());
    let email = user
        .emails
        .iter()
        .find(|e| Some(&e.id) == wanted.as_ref())
        .ok_or_else(|| {
            ApiError::param_value(
                "email_address_id",
                "This email address does not belong to the user.",
            )
        })?;
    let now = now_ms();
    otp::check_can_send(row.code_sends, row.code_last_sent_at, now)?;
    let code = otp::generate();
    state
        .mailer
        .send_code(&email.email_address, &code, CodePurpose::SignIn)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "sign-in code not sent");
            ApiError::unavailable()
        })?;
    row.first_factor_strategy = Some("email_code".to_owned());
    row.first_factor_status = Some("unverified".to_owned());
    row.email_address_id = Some(email.id.clone());
    row.code_digest = Some(otp::digest(&row.id, &code));
    row.code_expire_at = Some(now + otp::TTL_MS);
    row.code_attempts = 0;
    row.code_sends += 1;
    row.code_last_sent_at = Some(now);
    row.updated_at = now;
    save(state, &row).await?;
    Ok(row)
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor`.
pub async fn attempt_first_factor(
    state: &AppState,
    client_id: ClientId,
    id: SignInId,
    input: AttemptFirstFactor,
) -> Result<SignInRow, ApiError> {
    too_long("password", &input.password)?;
    let (mut row, user_id) = open_sign_in(state, client_id, id).await?;
    match input.strategy.as_deref() {
        Some("password") => {
            let password = input
                .password
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ApiError::param_missing("password"))?;
            let user = users::sign_in_user_by_id(state, user_id.clone()).await?;
            ensure_may_sign_in(&user)?;
            check_password(state, &user, password).await?;
            complete_as(state, row, user_id, "password").await
        }
        Some("email_code") => {
            let attempt = input
                .code
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| ApiError::param_missing("code"))?;
            let user = users::sign_in_user_by_id(state, user_id.clone()).await?;
            ensure_may_sign_in(&user)?;
            let valid = otp::check_attempt(
                &row.id,
                attempt.trim(),
                row.code_digest.as_deref(),
                row.code_expire_at,
                row.code_attempts,
                now_ms(),
            )?;
            // Counted, or used up, by one conditional update (see `otp`).
            let (id, digest) = (row.id.clone(), row.code_digest.take().unwrap_or_default());
            if !valid {
                let counted = pool(state)
                    .run("sign_ins.count_wrong_code", move |conn| {
                        store::count_wrong_code(conn, &id, &digest).map_err(ApiError::from)
                    })
                    .await?;
                // Only a guess that counted against the code counts toward lockout.
                if counted.is_some() {
                    let outcome =
                        users::record_credential_check(state, user_id, "email_code", false).await?;
                    if let CheckOutcome::Locked(seconds) = outcome {
                        return Err(users::user_locked(seconds));
                    }
                }
                return Err(otp::wrong_guess(counted));
            }
            let used = pool(state)
                .run("sign_ins.use_code", move |conn| {
                    store::use_code(conn, &id, &digest).map_err(ApiError::from)
                })
                .await?;
            if !used {
                return Err(otp::code_spent());
            }
            let outcome =
                users::record_credential_check(state, user_id.clone(), "email_code", true).await?;
            if let CheckOutcome::Locked(seconds) = outcome {
                return Err(users::user_locked(seconds));
            }
            complete_as(state, row, user_id, "email_code").await
        }
        None => Err(ApiError::param_missing("strategy")),
        Some(_) => Err(ApiError::param_value(
            "strategy",
            "This strategy is not supported here.",
        )),
    }
}

/// The Clerk object for a sign-in attempt, with its user's factors.
pub async fn object(state: &AppState, row: &SignInRow) -> Result<Value, ApiError> {
    let user = match &row.user_id {
        Some(id) => Some(users::sign_in_user_by_id(state, UserId::from(id.clone())).await?),
        None => None,
    };
    Ok(model::sign_in_object(row, user.as_ref(), now_ms()))
}

/// The object for the client's current sign-in, if any.
pub async fn current_object(
    state: &AppState,
    client_id: &ClientId,
    sign_in_id: Option<SignInId>,
) -> Result<Option<Value>, ApiError> {
    let Some(id) = sign_in_id else {
        return Ok(None);
    };
    match get(state, client_id.clone(), id).await {
        Ok(row) => object(state, &row).await.map(Some),
        Err(e) if e.code() == ErrorCode::ResourceNotFound => Ok(None),
        Err(e) => Err(e),
    }
}
