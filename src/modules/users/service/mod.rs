//! User management: the logic behind the Backend API users endpoints.
//! Other modules reach users only through these functions (and those
//! re-exported from `auth`).
//!
//! This file holds the helpers the operations share (the module's pool,
//! loading a user, the load–change–save transaction, the identifier and
//! lockout helpers, `normalize_email`) and re-exports every
//! public function, so callers keep using `users::service::X`. The
//! operations live in one file per kind: `create.rs`, `read.rs`,
//! `update.rs`, `user_metadata.rs` and `moderation.rs` (delete, ban, lock).

pub use super::auth::{
    check_new_identity, find_by_identifier, frontend_user, frontend_user_on,
    may_create_organization, record_credential_check, record_sign_in, sign_in_user_by_id,
    user_locked, CheckOutcome, SignInUser,
};
pub use super::enterprise::{
    account_count as enterprise_account_count, account_counts as enterprise_account_counts,
    sign_in as sign_in_enterprise, EnterpriseIdentity, EnterpriseSignIn, EnterpriseUser,
};
use super::model::UserRow;
pub use super::model::{PublicUserData, UserObject};
pub use super::push::BACKFILL as SESSION_USERS_BACKFILL;
pub use super::requests::CreateUser;
pub use super::social::{
    access_tokens as oauth_access_tokens, connect as connect_social, sign_in as sign_in_social,
    token_context as oauth_token_context, ExternalIdentity, SocialIdentity, SocialSignIn,
};
use super::{store, validate};
use crate::crypto::ids::{self, prefix};
use crate::db::{write_transaction, DbConnection, DbPool};
use crate::http::ApiError;
use crate::ids::UserId;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

mod create;
mod moderation;
mod read;
mod update;
mod user_metadata;

pub use super::list::{split_signed, ListUsersParams, Order as UserOrder, UserFilter};
pub use create::create_user;
pub use moderation::{delete_user, set_banned, set_locked};
pub use read::{count_users, get_user, list_users, matching_user_ids, verified_emails};
pub use update::update_user;
pub use user_metadata::{merge_metadata, replace_metadata};

pub(super) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Users).clone()
}

/// Refuses an identifier held by a user other than `user_id`.
fn ensure_free(
    owner: Option<String>,
    user_id: &str,
    param: &str,
    what: &str,
) -> Result<(), ApiError> {
    match owner {
        Some(owner) if owner != user_id => Err(ApiError::identifier_exists(param, what)),
        _ => Ok(()),
    }
}

/// The unique indexes on identifiers: PostgreSQL's name for each, the
/// column SQLite names in its message, and the parameter and noun of
/// Clerk's error.
const IDENTIFIER_INDEXES: [(&str, &str, &str, &str); 3] = [
    (
        "email_addresses_email_address_key",
        "email_addresses.email_address",
        "email_address",
        "email address",
    ),
    (
        "users_username_key",
        "users.username",
        "username",
        "username",
    ),
    (
        "users_external_id_key",
        "users.external_id",
        "external_id",
        "external ID",
    ),
];

/// The error for a write that a unique index on an identifier refused.
/// The identifier checks inside the write transaction give the precise
/// error, but on PostgreSQL a concurrent request can commit the same email
/// address, username or external id between the check and the insert
/// (SQLite's write lock serialises the two); the loser gets the same
/// `form_identifier_exists` as the check gives, not a generic conflict.
pub(super) fn identifier_taken(error: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &error {
        let index = info.constraint_name().unwrap_or_default();
        for (name, column, param, what) in IDENTIFIER_INDEXES {
            if index == name || info.message().contains(column) {
                return ApiError::identifier_exists(param, what);
            }
        }
    }
    ApiError::from(error)
}

pub(super) fn lockout_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings.security.lockout.duration.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Trims, lower-cases and checks an email address (`email_address`).
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    validate::normalize_email("email_address", raw)
}

/// Loads a user row or answers 404.
pub(super) fn load(conn: &mut DbConnection, id: &str) -> Result<UserRow, ApiError> {
    if !ids::has_shape(id, prefix::USER) {
        return Err(ApiError::not_found("user"));
    }
    store::find_user(conn, id)?.ok_or_else(|| ApiError::not_found("user"))
}

/// As [`load`], with the row locked until the transaction ends (on
/// PostgreSQL).
pub(super) fn load_for_update(conn: &mut DbConnection, id: &str) -> Result<UserRow, ApiError> {
    if !ids::has_shape(id, prefix::USER) {
        return Err(ApiError::not_found("user"));
    }
    store::find_user_for_update(conn, id)?.ok_or_else(|| ApiError::not_found("user"))
}

fn to_object(conn: &mut DbConnection, row: UserRow) -> Result<UserObject, ApiError> {
    let emails = store::emails_of(conn, &row.id)?;
    let mut user = UserObject::from_rows(row, emails, now_ms());
    super::enterprise::attach(conn, std::slice::from_mut(&mut user))?;
    super::social::attach(conn, std::slice::from_mut(&mut user))?;
    Ok(user)
}

/// Loads the user, applies `change`, saves it, all in one write
/// transaction. The row is locked as it is read (`FOR UPDATE` on
/// PostgreSQL; SQLite's write lock is taken up front), so the save cannot
/// undo a concurrent change to another column, such as a lock that a
/// failed sign-in fired.
pub(super) async fn modify<F>(
    state: &AppState,
    query: &'static str,
    id: UserId,
    change: F,
) -> Result<UserObject, ApiError>
where
    F: Fn(&mut DbConnection, &mut UserRow) -> Result<(), ApiError> + Send + Sync + 'static,
{
    let user = pool(state)
        .run(query, move |conn| {
            write_transaction(conn, |conn| {
                let mut row = load_for_update(conn, id.as_str())?;
                change(conn, &mut row)?;
                row.updated_at = now_ms();
                store::save_user(conn, &row).map_err(identifier_taken)?;
                super::push::user_changed(conn, &row.id)?;
                to_object(conn, row)
            })
        })
        .await?;
    super::push::deliver_soon(state).await;
    Ok(user)
}
