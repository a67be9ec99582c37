//! Sign-up attempts: collect the fields the instance requires, verify the
//! email address with a one-time code, then create the user and a session.

use serde::Deserialize;
use serde_json::Value;

use super::model::{self, status, Requirements, SignUpRow};
use super::store;
use crate::crypto::ids::{self, new_id, prefix};
use crate::crypto::otp as code;
use crate::db::DbPool;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientId, InvitationId, SignUpId, UserId};
use crate::modules::users::service::{self as users, CreateUser};
use crate::modules::{session, Module};
use crate::notify::CodePurpose;
use crate::state::AppState;
use crate::time::now_ms;

/// How long an unfinished sign-up stays usable.
pub(super) const SIGN_UP_TTL_MS: i64 = 24 * 60 * 60 * 1000;

fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Signup).clone()
}

/// `POST /v1/client/sign_ups` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CreateSignUp {
    pub email_address: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A JSON object, sent as a string in form bodies.
    pub unsafe_metadata: Option<String>,
    pub strategy: Option<String>,
    /// An organization invitation's ticket (`strategy=ticket`).
    pub ticket: Option<String>,
    /// `true`: take the identity of the client's transferable sign-in
    /// (enterprise SSO for a new person; see `transfer`).
    pub transfer: Option<String>,
    /// Where the browser returns from a social or enterprise provider.
    pub redirect_url: Option<String>,
    /// Where clerk-js goes once it has handled the return.
    pub action_complete_redirect_url: Option<String>,
    /// Set by the handler: the caller is a native app.
    #[serde(skip)]
    pub native: bool,
}

/// `prepare_verification` / `attempt_verification` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Verification {
    pub strategy: Option<String>,
    pub code: Option<String>,
}

/// What this instance requires of a sign-up.
pub fn requirements(state: &AppState) -> Requirements {
    let auth = &state.settings.auth;
    let mut required = Vec::new();
    let mut optional = vec!["first_name", "last_name"];
    if auth.email_address_required {
        required.push("email_address");
    } else {
        optional.push("email_address");
    }
    if auth.username_required {
        required.push("username");
    } else if auth.username_enabled {
        optional.push("username");
    }
    if auth.password.required {
        required.push("password");
    } else {
        optional.push("password");
    }
    Requirements { required, optional }
}

fn parse_unsafe_metadata(raw: Option<&str>) -> Result<Option<Value>, ApiError> {
    raw.filter(|m| !m.is_empty())
        .map(|text| {
            serde_json::from_str::<Value>(text).map_err(|_| {
                ApiError::param_format("unsafe_metadata", "unsafe_metadata must be a JSON object.")
            })
        })
        .transpose()
}

/// `POST /v1/client/sign_ups`: validates every field (including that the
/// email address and username are free) before storing anything.
pub async fn create(
    state: &AppState,
    client_id: ClientId,
    input: CreateSignUp,
) -> Result<SignUpRow, ApiError> {
    if matches!(input.transfer.as_deref(), Some("true" | "1")) {
        return super::transfer::create(state, client_id, input).await;
    }
    if let Some(strategy) = input
        .strategy
        .clone()
        .filter(|s| super::external::is_external(s))
    {
        return super::external::create(state, client_id, strategy, input).await;
    }
    let invitation = match input.strategy.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("ticket") if state.settings.modules.is_enabled(Module::Orgs) => {
            let ticket = input
                .ticket
                .clone()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::param_missing("ticket"))?;
            Some(crate::modules::orgs::invitations::peek_ticket(state, ticket).await?)
        }
        Some(strategy) => {
            return Err(ApiError::param_value(
                "strategy",
                format!("The sign-up strategy {strategy} is not supported."),
            ))
        }
    };
    // An invitation's ticket proves the address it was sent to.
    let email_address = match &invitation {
        Some((_, email)) => Some(email.clone()),
        None => input.email_address,
    };
    let unsafe_metadata = parse_unsafe_metadata(input.unsafe_metadata.as_deref())?
        .unwrap_or_else(|| Value::Object(Default::default()));
    let checked = users::check_new_identity(
        state,
        email_address,
        input.username,
        input.password,
        input.first_name,
        input.last_name,
        unsafe_metadata,
    )
    .await?;
    let now = now_ms();
    let row = SignUpRow {
        id: new_id(prefix::SIGN_UP),
        client_id: client_id.to_string(),
        status: status::MISSING_REQUIREMENTS.to_owned(),
        email_verification_status: checked.email_address.as_ref().map(|_| {
            if invitation.is_some() {
                "verified"
            } else {
                "unverified"
            }
            .to_owned()
        }),
        email_address: checked.email_address,
        username: checked.username,
        first_name: checked.first_name,
        last_name: checked.last_name,
        password_digest: checked.password_digest,
        unsafe_metadata: checked.unsafe_metadata,
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
        organization_invitation_id: invitation.map(|(id, _)| String::from(id)),
        external_sign_in_id: None,
    };
    let mut row = row;
    if row.organization_invitation_id.is_some()
        && row.missing_fields(&requirements(state)).is_empty()
    {
        // Completed at once: the attempt is stored only once the user,
        // the membership and the session exist (see `complete`).
        complete(state, &mut row).await?;
        insert(state, &row).await?;
        return Ok(row);
    }
    insert(state, &row).await?;
    session::service::set_client_attempt(
        state,
        client_id,
        None,
        Some(SignUpId::from(row.id.clone())),
    )
    .await?;
    Ok(row)
}

pub(super) async fn insert(state: &AppState, row: &SignUpRow) -> Result<(), ApiError> {
    let saved = row.clone();
    pool(state)
        .run("sign_ups.create", move |conn| {
            store::insert(conn, &saved).map_err(ApiError::from)
        })
        .await
}

/// The caller's sign-up attempt `id`.
pub async fn get(
    state: &AppState,
    client_id: ClientId,
    id: SignUpId,
) -> Result<SignUpRow, ApiError> {
    if !ids::has_shape(id.as_str(), prefix::SIGN_UP) {
        return Err(ApiError::not_found("sign up"));
    }
    pool(state)
        .run("sign_ups.get", move |conn| {
            store::find(conn, id.as_str())?
                .filter(|row| row.client_id == client_id.as_str())
                .ok_or_else(|| ApiError::not_found("sign up"))
        })
        .await
}

/// `PATCH /v1/client/sign_ups/{id}`: adds or changes fields. A new email
/// address must be verified again. Completes the sign-up when nothing is
/// missing any more.
pub async fn update(
    state: &AppState,
    client_id: ClientId,
    id: SignUpId,
    input: CreateSignUp,
) -> Result<SignUpRow, ApiError> {
    let mut row = get(state, client_id, id).await?;
    let now = now_ms();
    ensure_open(&row, now)?;
    let metadata = parse_unsafe_metadata(input.unsafe_metadata.as_deref())?;
    let checked = users::check_new_identity(
        state,
        input.email_address,
        input.username,
        input.password,
        input.first_name,
        input.last_name,
        metadata
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default())),
    )
    .await?;
    if let Some(email) = checked.email_address {
        if row.email_address.as_deref() != Some(email.as_str()) {
            row.email_address = Some(email);
            row.email_verification_status = Some("unverified".to_owned());
            row.code_digest = None;
            row.code_expire_at = None;
        }
    }
    row.username = checked.username.or(row.username.take());
    row.first_name = checked.first_name.or(row.first_name.take());
    row.last_name = checked.last_name.or(row.last_name.take());
    row.password_digest = checked.password_digest.or(row.password_digest.take());
    if metadata.is_some() {
        row.unsafe_metadata = checked.unsafe_metadata;
    }
    row.updated_at = now;
    if row.unverified_fields().is_empty() && row.missing_fields(&requirements(state)).is_empty() {
        complete(state, &mut row).await?;
    }
    save(state, &row).await?;
    Ok(row)
}

async fn save(state: &AppState, row: &SignUpRow) -> Result<(), ApiError> {
    let saved = row.clone();
    pool(state)
        .run("sign_ups.save", move |conn| {
            store::save(conn, &saved).map_err(ApiError::from)
        })
        .await
}

fn ensure_open(row: &SignUpRow, now: i64) -> Result<(), ApiError> {
    if row.status == status::COMPLETE || now >= row.abandon_at {
        return Err(ApiError::new(
            ErrorCode::VerificationExpired,
            "This sign-up has expired or is already complete.",
            "This sign-up has expired or is already complete. Start a new sign-up.",
        ));
    }
    Ok(())
}

/// `prepare_verification`: emails a fresh code, within the resend limits.
pub async fn prepare_verification(
    state: &AppState,
    client_id: ClientId,
    id: SignUpId,
    input: Verification,
) -> Result<SignUpRow, ApiError> {
    crate::crypto::otp::require_email_code(input.strategy.as_deref())?;
    let mut row = get(state, client_id, id).await?;
    let now = now_ms();
    ensure_open(&row, now)?;
    let Some(email) = row.email_address.clone() else {
        return Err(ApiError::param_missing("email_address"));
    };
    code::check_can_send(row.code_sends, row.code_last_sent_at, now)?;
    let fresh = code::generate();
    state
        .mailer
        .send_code(&email, &fresh, CodePurpose::SignUp)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "verification email not sent");
            ApiError::unavailable()
        })?;
    row.code_digest = Some(code::digest(&row.id, &fresh));
    row.code_expire_at = Some(now + code::TTL_MS);
    row.code_attempts = 0;
    row.code_sends += 1;
    row.code_last_sent_at = Some(now);
    row.updated_at = now;
    save(state, &row).await?;
    Ok(row)
}

/// `attempt_verification`: checks the code; a verified sign-up with every
/// required field becomes a user and a session.
pub async fn attempt_verification(
    state: &AppState,
    client_id: ClientId,
    id: SignUpId,
    input: Verification,
) -> Result<SignUpRow, ApiError> {
    crate::crypto::otp::require_email_code(input.strategy.as_deref())?;
    let attempt = input
        .code
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::param_missing("code"))?;
    let mut row = get(state, client_id, id).await?;
    let now = now_ms();
    ensure_open(&row, now)?;
    let valid = code::check_attempt(
        &row.id,
        attempt.trim(),
        row.code_digest.as_deref(),
        row.code_expire_at,
        row.code_attempts,
        now,
    )?;
    // Counted, or used up, by one conditional update (see `otp`).
    let (id, digest) = (row.id.clone(), row.code_digest.take().unwrap_or_default());
    if !valid {
        let counted = pool(state)
            .run("sign_ups.count_wrong_code", move |conn| {
                store::count_wrong_code(conn, &id, &digest).map_err(ApiError::from)
            })
            .await?;
        return Err(code::wrong_guess(counted));
    }
    let used = pool(state)
        .run("sign_ups.use_code", move |conn| {
            store::use_code(conn, &id, &digest).map_err(ApiError::from)
        })
        .await?;
    if !used {
        return Err(code::code_spent());
    }
    row.email_verification_status = Some("verified".to_owned());
    row.updated_at = now;
    if row.missing_fields(&requirements(state)).is_empty() {
        complete(state, &mut row).await?;
    }
    save(state, &row).await?;
    Ok(row)
}

/// Creates the user and the session; with an invitation ticket, also the
/// membership, all or nothing.
///
/// The user and the organization may live in different databases, so the
/// three writes cannot share a transaction. They are ordered so that a
/// refusal leaves nothing: the invitation is checked first (pending, a
/// free seat: the usual refusals happen before anything is written); then
/// the user is created; then the invitation is accepted, which takes the
/// seat under the organization's lock. Should the seat have gone in
/// between (a concurrent acceptance), or the invitation been revoked, the
/// new user is deleted again before the refusal is returned. The user
/// comes before the membership because a membership must never name a
/// user that does not exist (lists would show it without user data).
async fn complete(state: &AppState, row: &mut SignUpRow) -> Result<(), ApiError> {
    let invitation = row
        .organization_invitation_id
        .clone()
        .map(InvitationId::from);
    if let Some(invitation_id) = invitation.clone() {
        crate::modules::orgs::invitations::check_acceptable(state, invitation_id).await?;
    }
    let user = users::create_user(
        state,
        CreateUser {
            email_address: row.email_address.clone().into_iter().collect(),
            username: row.username.clone(),
            password_digest: row.password_digest.clone(),
            password_hasher: row.password_digest.as_ref().map(|_| "argon2id".to_owned()),
            skip_password_requirement: row.password_digest.is_none(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            unsafe_metadata: serde_json::from_str(&row.unsafe_metadata).ok(),
            ..CreateUser::default()
        },
    )
    .await?;
    let user_id = UserId::from(user.id.clone());
    if let Some(invitation_id) = invitation {
        let accepted = crate::modules::orgs::invitations::accept_for_new_user(
            state,
            invitation_id,
            user_id.clone(),
        )
        .await;
        if let Err(refusal) = accepted {
            if let Err(error) = users::delete_user(state, user_id.clone()).await {
                tracing::error!(%error, user = %user.id, "a refused ticket sign-up left its user behind");
            }
            return Err(refusal);
        }
    }
    let strategy = if row.organization_invitation_id.is_some() {
        "ticket"
    } else {
        "email_code"
    };
    let session = session::service::create_session(
        state,
        ClientId::from(row.client_id.clone()),
        user_id.clone(),
        Some(strategy),
    )
    .await?;
    users::record_sign_in(state, user_id, strategy).await?;
    row.status = status::COMPLETE.to_owned();
    row.created_user_id = Some(user.id);
    row.created_session_id = Some(session.id);
    Ok(())
}

/// The Clerk object for a sign-up attempt (with what the provider attempt
/// carrying it shows, for a social or enterprise one).
pub async fn object(state: &AppState, row: &SignUpRow) -> Result<Value, ApiError> {
    let object = model::sign_up_object(row, &requirements(state), now_ms());
    super::external::with_attempt(state, row, object).await
}

/// The object for the client's current sign-up, if any.
pub async fn current_object(
    state: &AppState,
    client_id: &ClientId,
    sign_up_id: Option<SignUpId>,
) -> Result<Option<Value>, ApiError> {
    let Some(id) = sign_up_id else {
        return Ok(None);
    };
    match get(state, client_id.clone(), id).await {
        Ok(row) => object(state, &row).await.map(Some),
        Err(e) if e.code() == ErrorCode::ResourceNotFound => Ok(None),
        Err(e) => Err(e),
    }
}
