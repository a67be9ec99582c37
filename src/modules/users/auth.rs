//! What sign-in and sessions need from users: lookups by identifier,
//! the Frontend API user shape, sign-in bookkeeping and lockout.
//!
//! Lockout counts failed credential checks in the append-only
//! `credential_checks` table: after `security.lockout.max_attempts`
//! failures since the last success (or unlock) within the lockout window,
//! the user is locked for `security.lockout.duration`. Each check is
//! decided under a lock on the user's row (see [`record_credential_check`]).

use super::push;
use diesel::prelude::*;
use serde_json::Value;

use super::model::{EmailAddressRow, UserObject};
use super::service::{load, pool};
use super::store;
use crate::crypto::ids::new_id;
use crate::crypto::password::Hasher;
use crate::db::schema::{credential_checks, users};
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode};
use crate::ids::UserId;
use crate::metadata;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// A user as sign-in sees them.
#[derive(Debug, Clone)]
pub struct SignInUser {
    pub id: UserId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<(Hasher, String)>,
    pub emails: Vec<EmailAddressRow>,
    pub primary_email_address_id: Option<String>,
    pub banned: bool,
    /// Seconds until the lock ends, when locked.
    pub lockout_expires_in_seconds: Option<i64>,
}

/// Finds a user by verified email address or username (case-insensitive).
pub async fn find_by_identifier(
    state: &AppState,
    identifier: String,
) -> Result<Option<SignInUser>, ApiError> {
    let identifier = identifier.trim().to_lowercase();
    pool(state)
        .run("users.find_by_identifier", move |conn| {
            let id = match store::owner_of_verified_email(conn, &identifier)? {
                Some(id) => Some(id),
                None => store::owner_of_username(conn, &identifier)?,
            };
            let Some(id) = id else { return Ok(None) };
            sign_in_user(conn, &id).map(Some)
        })
        .await
}

/// The sign-in view of user `id`.
pub async fn sign_in_user_by_id(state: &AppState, id: UserId) -> Result<SignInUser, ApiError> {
    pool(state)
        .run("users.sign_in_user", move |conn| {
            sign_in_user(conn, id.as_str())
        })
        .await
}

fn sign_in_user(conn: &mut DbConnection, id: &str) -> Result<SignInUser, ApiError> {
    let row = load(conn, id)?;
    // Codes go only to addresses the user has proven they own.
    let emails = store::emails_of(conn, id)?
        .into_iter()
        .filter(|e| e.verification_status == "verified")
        .collect();
    let now = now_ms();
    Ok(SignInUser {
        password: row
            .password_digest
            .zip(row.password_hasher.as_deref().and_then(Hasher::from_name))
            .map(|(digest, hasher)| (hasher, digest)),
        lockout_expires_in_seconds: row
            .locked_until
            .filter(|until| *until > now)
            .map(|until| (until - now + 999) / 1000),
        id: UserId::from(row.id),
        first_name: row.first_name,
        last_name: row.last_name,
        emails,
        primary_email_address_id: row.primary_email_address_id,
        banned: row.banned,
    })
}

/// What recording a credential check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The credential matched and the user is not locked.
    Accepted,
    /// The credential did not match; the user is not locked (yet).
    Rejected,
    /// The user is locked, for this many more seconds: this failure
    /// reached the limit, or a lock fired while the credential was being
    /// checked. A matching credential is refused then too.
    Locked(i64),
}

/// The error for a locked user, with the seconds until the lock ends.
pub fn user_locked(seconds: i64) -> ApiError {
    ApiError::new(
        ErrorCode::UserLocked,
        "Account locked",
        "Your account is locked after too many failed attempts. Try again later.",
    )
    .with_meta("lockout_expires_in_seconds", Value::from(seconds))
}

/// Records a credential check and decides it against the lock: a failure
/// that reaches the limit locks the user, and a check made while the user
/// is locked (a lock that fired between reading the user and this call,
/// which follows a password hash of tens of milliseconds) is refused and
/// not recorded, whatever its result.
///
/// The user's row is locked (`FOR UPDATE` on PostgreSQL; SQLite's
/// `BEGIN IMMEDIATE` serialises writers) before anything is read, so the
/// checks of one user are decided one at a time: concurrent failures are
/// all counted, exactly one of them fires the lock, and no check decided
/// after it can succeed.
pub async fn record_credential_check(
    state: &AppState,
    user_id: UserId,
    strategy: &'static str,
    succeeded: bool,
) -> Result<CheckOutcome, ApiError> {
    let user_id = String::from(user_id);
    let lockout = &state.settings.security.lockout;
    let max_attempts = i64::from(lockout.max_attempts);
    let duration = i64::try_from(lockout.duration.as_millis()).unwrap_or(i64::MAX / 4);
    let outcome = pool(state)
        .run("users.credential_check", move |conn| {
            write_transaction(conn, |conn| {
                let locked_until =
                    lock_user_row(conn, &user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
                let now = now_ms();
                if let Some(until) = locked_until.filter(|until| *until > now) {
                    return Ok(CheckOutcome::Locked((until - now + 999) / 1000));
                }
                insert_check(conn, &user_id, strategy, succeeded, now)?;
                if succeeded {
                    return Ok(CheckOutcome::Accepted);
                }
                let last_success: Option<i64> = credential_checks::table
                    .filter(credential_checks::user_id.eq(&user_id))
                    .filter(credential_checks::succeeded.eq(true))
                    .select(diesel::dsl::max(credential_checks::created_at))
                    .first(conn)?;
                let since = last_success.unwrap_or(0).max(now - duration);
                let failures: i64 = credential_checks::table
                    .filter(credential_checks::user_id.eq(&user_id))
                    .filter(credential_checks::succeeded.eq(false))
                    .filter(credential_checks::created_at.ge(since))
                    .count()
                    .get_result(conn)?;
                if failures < max_attempts {
                    return Ok(CheckOutcome::Rejected);
                }
                diesel::update(users::table.find(&user_id))
                    .set(users::locked_until.eq(now + duration))
                    .execute(conn)?;
                push::user_changed(conn, &user_id)?;
                Ok::<_, ApiError>(CheckOutcome::Locked((duration + 999) / 1000))
            })
        })
        .await?;
    if matches!(outcome, CheckOutcome::Locked(_)) {
        push::deliver_soon(state).await;
    }
    Ok(outcome)
}

/// The user's `locked_until`, with the row locked until the transaction
/// ends on PostgreSQL; `None` when the user does not exist.
fn lock_user_row(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<Option<i64>>> {
    let row = users::table.find(user_id).select(users::locked_until);
    match conn {
        DbConnection::Pg(pg) => row.for_update().first(pg).optional(),
        DbConnection::Sqlite(sqlite) => row.first(sqlite).optional(),
    }
}

fn insert_check(
    conn: &mut DbConnection,
    user_id: &str,
    strategy: &str,
    succeeded: bool,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(credential_checks::table)
        .values((
            credential_checks::id.eq(new_id("chk")),
            credential_checks::user_id.eq(user_id),
            credential_checks::strategy.eq(strategy),
            credential_checks::succeeded.eq(succeeded),
            credential_checks::created_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// An unlock starts the failure count afresh.
pub fn record_unlock(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    insert_check(conn, user_id, "unlock", true, now_ms())
}

/// Notes a completed sign-in: `last_sign_in_at`, `last_active_at` and the
/// last authentication strategy. The areas that sign users in (sign-in,
/// sign-up and its invitation tickets) call it once the session exists;
/// the session area knows users only by id.
pub async fn record_sign_in(
    state: &AppState,
    user_id: UserId,
    strategy: &str,
) -> Result<(), ApiError> {
    let user_id = String::from(user_id);
    let strategy = strategy.to_owned();
    pool(state)
        .run("users.record_sign_in", move |conn| {
            write_transaction(conn, |conn| {
                let now = now_ms();
                diesel::update(users::table.find(&user_id))
                    .set((
                        users::last_sign_in_at.eq(now),
                        users::last_active_at.eq(now),
                        users::last_authentication_strategy.eq(&strategy),
                    ))
                    .execute(conn)?;
                push::user_changed(conn, &user_id)
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(())
}

/// The user as the Frontend API shows it to themselves: no private
/// metadata. A session read: it fails over to a replica with the session
/// token path.
pub async fn frontend_user(
    state: &AppState,
    user_id: UserId,
) -> Result<Option<UserObject>, ApiError> {
    state
        .db
        .read_with_failover(Module::Users, "users.get_frontend", move |conn| {
            frontend_user_on(conn, &user_id)
        })
        .await
}

/// As [`frontend_user`], on a connection the caller holds: for a
/// unit of work that also reads other modules' tables in the same database
/// (the caller checks that it is the same).
pub fn frontend_user_on(
    conn: &mut DbConnection,
    user_id: &UserId,
) -> Result<Option<UserObject>, ApiError> {
    let Some(row) = store::find_user(conn, user_id.as_str())? else {
        return Ok(None);
    };
    let emails = store::emails_of(conn, &row.id)?;
    let mut user = UserObject::from_rows(row, emails, now_ms()).for_frontend();
    super::enterprise::attach(conn, std::slice::from_mut(&mut user))?;
    super::social::attach(conn, std::slice::from_mut(&mut user))?;
    Ok(Some(user))
}

/// Sign-up fields, normalised and checked, ready to store.
#[derive(Debug, Clone)]
pub struct CheckedIdentity {
    pub email_address: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// An Argon2id digest.
    pub password_digest: Option<String>,
    pub unsafe_metadata: String,
}

/// Checks what a sign-up gives, by the same rules as user creation, and
/// that the email address and username are free, before anything is stored.
pub async fn check_new_identity(
    state: &AppState,
    email_address: Option<String>,
    username: Option<String>,
    password: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    unsafe_metadata: Value,
) -> Result<CheckedIdentity, ApiError> {
    use super::validate;
    let email = email_address
        .filter(|e| !e.trim().is_empty())
        .map(|e| validate::normalize_email("email_address", &e))
        .transpose()?;
    let username = username
        .filter(|u| !u.trim().is_empty())
        .map(|u| validate::normalize_username(&u, &state.settings.auth))
        .transpose()?;
    let first_name = validate::optional_text("first_name", first_name, validate::MAX_NAME_LEN)?;
    let last_name = validate::optional_text("last_name", last_name, validate::MAX_NAME_LEN)?;
    let unsafe_metadata = metadata::metadata_text("unsafe_metadata", Some(unsafe_metadata))?;
    let password_digest = match password.filter(|p| !p.is_empty()) {
        Some(password) => {
            validate::password(&password, &state.settings.auth.password, false)?;
            let hasher = state.passwords.clone();
            Some(
                state
                    .hash_threads
                    .run(move || hasher.hash(&password))
                    .await?
                    .map_err(ApiError::internal)?,
            )
        }
        None => None,
    };
    let (lookup_email, lookup_username) = (email.clone(), username.clone());
    pool(state)
        .run("users.check_identity", move |conn| {
            if let Some(email) = &lookup_email {
                if store::owner_of_email(conn, email)?.is_some() {
                    return Err(ApiError::identifier_exists(
                        "email_address",
                        "email address",
                    ));
                }
            }
            if let Some(username) = &lookup_username {
                if store::owner_of_username(conn, username)?.is_some() {
                    return Err(ApiError::identifier_exists("username", "username"));
                }
            }
            Ok(())
        })
        .await?;
    Ok(CheckedIdentity {
        email_address: email,
        username,
        first_name,
        last_name,
        password_digest,
        unsafe_metadata,
    })
}

/// Whether the user may create organizations (`create_organization_enabled`).
pub async fn may_create_organization(state: &AppState, user_id: UserId) -> Result<bool, ApiError> {
    pool(state)
        .run("users.may_create_organization", move |conn| {
            load(conn, user_id.as_str()).map(|user| user.create_organization_enabled)
        })
        .await
}
