//! A signed-in user managing their own account (Frontend API `/v1/me`):
//! profile, password, email addresses with email-code verification, and
//! deleting the account.

use super::push;
use diesel::prelude::*;
use serde::Deserialize;

use super::model::{DeletedObject, EmailAddressObject, EmailAddressRow, UserObject};
use super::requests::UpdateUser;
use super::service::{load, pool, CheckOutcome};
use super::{store, validate};
use crate::crypto::ids::{new_id, prefix};
use crate::crypto::otp;
use crate::db::schema::{email_addresses, email_verifications};
use crate::db::{on_backend, write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode, Patch};
use crate::ids::{EmailAddressId, SessionId, UserId};
use crate::notify::CodePurpose;
use crate::state::AppState;
use crate::time::now_ms;

/// `PATCH /v1/me` fields a user may change about themselves.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateSelf {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub primary_email_address_id: Option<String>,
}

/// `PATCH /v1/me`. A new primary address must be verified.
pub async fn update_self(
    state: &AppState,
    user_id: UserId,
    input: UpdateSelf,
) -> Result<UserObject, ApiError> {
    if let Some(email_id) = &input.primary_email_address_id {
        let email = own_email(
            state,
            user_id.clone(),
            EmailAddressId::from(email_id.clone()),
        )
        .await?;
        if email.verification_status != "verified" {
            return Err(ApiError::param_value(
                "primary_email_address_id",
                "Only a verified email address can be primary.",
            ));
        }
    }
    let some = |v: Option<String>| v.map_or(Patch::Absent, Patch::Value);
    super::service::update_user(
        state,
        user_id,
        UpdateUser {
            username: some(input.username),
            first_name: some(input.first_name),
            last_name: some(input.last_name),
            primary_email_address_id: input.primary_email_address_id,
            ..UpdateUser::default()
        },
    )
    .await
}

/// `DELETE /v1/me`, when the user may delete themselves.
pub async fn delete_self(state: &AppState, user_id: UserId) -> Result<DeletedObject, ApiError> {
    let lookup = user_id.clone();
    let allowed = pool(state)
        .run("users.delete_self_enabled", move |conn| {
            load(conn, lookup.as_str()).map(|u| u.delete_self_enabled)
        })
        .await?;
    if !allowed {
        return Err(ApiError::new(
            ErrorCode::ActionNotAllowed,
            "Deleting this account is not allowed",
            "This account cannot be deleted by its user. Ask an administrator.",
        ));
    }
    // Ends every session of the user, this one included.
    super::service::delete_user(state, user_id).await
}

/// `POST /v1/me/change_password` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ChangePassword {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    #[serde(default)]
    pub sign_out_of_other_sessions: bool,
}

/// `POST /v1/me/change_password`: the current password is required when
/// the user has one; a wrong one counts toward lockout.
pub async fn change_password(
    state: &AppState,
    user_id: UserId,
    session_id: SessionId,
    input: ChangePassword,
) -> Result<UserObject, ApiError> {
    let new_password = input
        .new_password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::param_missing("new_password"))?;
    validate::password(&new_password, &state.settings.auth.password, false)
        .map_err(|e| e.with_param("new_password"))?;
    let user = super::service::sign_in_user_by_id(state, user_id.clone()).await?;
    if let Some((hasher, digest)) = user.password.clone() {
        let current = input
            .current_password
            .filter(|p| !p.is_empty() && p.len() <= validate::MAX_PASSWORD_BYTES_ABSOLUTE)
            .ok_or_else(|| ApiError::param_missing("current_password"))?;
        let passwords = state.passwords.clone();
        let verified = state
            .hash_threads
            .run(move || passwords.verify(hasher, &digest, &current))
            .await?;
        match super::service::record_credential_check(state, user_id.clone(), "password", verified)
            .await?
        {
            CheckOutcome::Accepted => {}
            CheckOutcome::Locked(seconds) => return Err(super::service::user_locked(seconds)),
            CheckOutcome::Rejected => {
                return Err(ApiError::new(
                    ErrorCode::FormPasswordIncorrect,
                    "Password is incorrect.",
                    "The current password is incorrect.",
                )
                .with_param("current_password"))
            }
        }
    }
    let updated = super::service::update_user(
        state,
        user_id.clone(),
        UpdateUser {
            password: Some(new_password),
            ..UpdateUser::default()
        },
    )
    .await?;
    if input.sign_out_of_other_sessions {
        crate::modules::session::service::end_other_sessions(state, user_id, session_id).await?;
    }
    Ok(updated)
}

/// The user's own email address `email_id`, or 404.
pub async fn own_email(
    state: &AppState,
    user_id: UserId,
    email_id: EmailAddressId,
) -> Result<EmailAddressRow, ApiError> {
    pool(state)
        .run("users.own_email", move |conn| {
            find_own_email(conn, user_id.as_str(), email_id.as_str())
        })
        .await
}

fn find_own_email(
    conn: &mut DbConnection,
    user_id: &str,
    email_id: &str,
) -> Result<EmailAddressRow, ApiError> {
    email_addresses::table
        .find(email_id)
        .filter(email_addresses::user_id.eq(user_id))
        .select(EmailAddressRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("email address"))
}

/// `POST /v1/me/email_addresses`: adds an unverified address.
pub async fn add_email(
    state: &AppState,
    user_id: UserId,
    email: Option<String>,
) -> Result<EmailAddressObject, ApiError> {
    let user_id = String::from(user_id);
    let email = validate::normalize_email("email_address", email.as_deref().unwrap_or_default())?;
    let added = pool(state)
        .run("users.add_email", move |conn| {
            let email = email.clone();
            write_transaction(conn, |conn| {
                let user = load(conn, &user_id)?;
                if store::owner_of_email(conn, &email)?.is_some() {
                    return Err(ApiError::identifier_exists(
                        "email_address",
                        "email address",
                    ));
                }
                if store::emails_of(conn, &user.id)?.len() >= validate::MAX_EMAILS_PER_USER {
                    return Err(ApiError::param_value(
                        "email_address",
                        format!(
                            "A user can have at most {} email addresses.",
                            validate::MAX_EMAILS_PER_USER
                        ),
                    ));
                }
                let now = now_ms();
                let row = EmailAddressRow {
                    id: new_id(prefix::IDENTIFICATION),
                    user_id: user.id,
                    email_address: email,
                    verification_status: "unverified".to_owned(),
                    verification_strategy: "email_code".to_owned(),
                    reserved: false,
                    created_at: now,
                    updated_at: now,
                };
                store::insert_emails(conn, std::slice::from_ref(&row))
                    .map_err(super::service::identifier_taken)?;
                push::user_changed(conn, &row.user_id)?;
                Ok(EmailAddressObject::from_row(row))
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(added)
}

/// A pending verification's code state.
#[derive(Debug, Clone, Default, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = email_verifications, treat_none_as_null = true)]
struct PendingCode {
    email_address_id: String,
    code_digest: Option<String>,
    code_expire_at: Option<i64>,
    code_attempts: i32,
    code_sends: i32,
    code_last_sent_at: Option<i64>,
}

fn pending(conn: &mut DbConnection, email_id: &str) -> QueryResult<PendingCode> {
    Ok(email_verifications::table
        .find(email_id)
        .select(PendingCode::as_select())
        .first(conn)
        .optional()?
        .unwrap_or_else(|| PendingCode {
            email_address_id: email_id.to_owned(),
            ..PendingCode::default()
        }))
}

fn save_pending(conn: &mut DbConnection, code: &PendingCode) -> QueryResult<()> {
    // An upsert, which the multi-backend connection cannot express.
    on_backend!(conn, backend => diesel::insert_into(email_verifications::table)
        .values(code)
        .on_conflict(email_verifications::email_address_id)
        .do_update()
        .set(code)
        .execute(backend))
    .map(drop)
}

/// `POST /v1/me/email_addresses/{id}/prepare_verification` (`email_code`).
pub async fn prepare_email_verification(
    state: &AppState,
    user_id: UserId,
    email_id: EmailAddressId,
) -> Result<EmailAddressObject, ApiError> {
    let email = own_email(state, user_id, email_id.clone()).await?;
    let email_id = String::from(email_id);
    if email.verification_status == "verified" {
        return Err(ApiError::param_value(
            "email_address_id",
            "This email address is already verified.",
        ));
    }
    let lookup = email_id.clone();
    let mut code = pool(state)
        .run("users.pending_code", move |conn| {
            pending(conn, &lookup).map_err(ApiError::from)
        })
        .await?;
    let now = now_ms();
    otp::check_can_send(code.code_sends, code.code_last_sent_at, now)?;
    let fresh = otp::generate();
    state
        .mailer
        .send_code(&email.email_address, &fresh, CodePurpose::AddEmailAddress)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "verification email not sent");
            ApiError::unavailable()
        })?;
    code.code_digest = Some(otp::digest(&email_id, &fresh));
    code.code_expire_at = Some(now + otp::TTL_MS);
    code.code_attempts = 0;
    code.code_sends += 1;
    code.code_last_sent_at = Some(now);
    pool(state)
        .run("users.save_pending_code", move |conn| {
            save_pending(conn, &code).map_err(ApiError::from)
        })
        .await?;
    Ok(EmailAddressObject::from_row(email))
}

/// `POST /v1/me/email_addresses/{id}/attempt_verification`.
pub async fn attempt_email_verification(
    state: &AppState,
    user_id: UserId,
    email_id: EmailAddressId,
    attempt: Option<String>,
) -> Result<EmailAddressObject, ApiError> {
    let (user_id, email_id) = (String::from(user_id), String::from(email_id));
    let attempt = attempt
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::param_missing("code"))?;
    let verified = pool(state)
        .run("users.verify_email", move |conn| {
            write_transaction(conn, |conn| {
                let mut email = find_own_email(conn, &user_id, &email_id)?;
                let code = pending(conn, &email_id)?;
                let now = now_ms();
                let valid = otp::check_attempt(
                    &email_id,
                    attempt.trim(),
                    code.code_digest.as_deref(),
                    code.code_expire_at,
                    code.code_attempts,
                    now,
                )?;
                // Counted, or used up, by one conditional update (see
                // `otp`): concurrent guesses wait for each other's row lock.
                let digest = code.code_digest.unwrap_or_default();
                if !valid {
                    let counted = store::count_wrong_code(conn, &email_id, &digest)?;
                    return Ok(Err(otp::wrong_guess(counted)));
                }
                if !store::use_code(conn, &email_id, &digest)? {
                    return Ok(Err(otp::code_spent()));
                }
                diesel::delete(email_verifications::table.find(&email_id)).execute(conn)?;
                diesel::update(email_addresses::table.find(&email_id))
                    .set((
                        email_addresses::verification_status.eq("verified"),
                        email_addresses::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                push::user_changed(conn, &email.user_id)?;
                email.verification_status = "verified".to_owned();
                email.updated_at = now;
                Ok::<_, ApiError>(Ok(EmailAddressObject::from_row(email)))
            })
        })
        .await?;
    if verified.is_ok() {
        push::deliver_soon(state).await;
    }
    verified
}

/// `DELETE /v1/me/email_addresses/{id}`: any address but the primary one.
pub async fn delete_email(
    state: &AppState,
    user_id: UserId,
    email_id: EmailAddressId,
) -> Result<DeletedObject, ApiError> {
    let (user_id, email_id) = (String::from(user_id), String::from(email_id));
    let deleted = pool(state)
        .run("users.delete_email", move |conn| {
            write_transaction(conn, |conn| {
                let user = load(conn, &user_id)?;
                let email = find_own_email(conn, &user.id, &email_id)?;
                if user.primary_email_address_id.as_deref() == Some(email.id.as_str()) {
                    return Err(ApiError::param_value(
                        "email_address_id",
                        "The primary email address cannot be deleted. Make another one primary first.",
                    ));
                }
                diesel::delete(email_addresses::table.find(&email.id)).execute(conn)?;
                push::user_changed(conn, &user.id)?;
                Ok(DeletedObject {
                    object: "email_address",
                    id: email.id,
                    deleted: true,
                })
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(deleted)
}
