//! Accounts at social (OAuth 2.0 / OpenID Connect) providers linked to
//! users: Clerk's `external_accounts`, the provider tokens kept with them
//! (sealed; read back through `GET /v1/users/{id}/oauth_access_tokens`),
//! and the operation the OAuth area needs — find the user a provider
//! vouched for, linking or creating them.
//!
//! An existing user is linked only through an address the provider
//! vouched for (`email_verified`): an unverified provider address never
//! takes over an account.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::enterprise::{create_user, sync_names, unique_to_conflict, EnterpriseUser, Person};
use super::service::pool;
use super::{push, store};
use crate::crypto::ids::new_id;
use crate::db::schema::{email_addresses, external_accounts};
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode};
use crate::ids::UserId;
use crate::state::AppState;
use crate::time::now_ms;

/// An `external_accounts` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = external_accounts, treat_none_as_null = true)]
pub struct AccountRow {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub provider_user_id: String,
    pub email_address: String,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub username: Option<String>,
    pub approved_scopes: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub token_expires_at: Option<i64>,
    pub public_metadata: String,
    pub last_authenticated_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Who a social provider says signed in, already verified by the caller.
/// Kept as JSON on a sign-in that must become a sign-up; its tokens are
/// sealed already ([`token_context`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SocialIdentity {
    /// `oauth_google`, `oauth_github`, `oauth_custom_<key>`, …
    pub provider: String,
    pub provider_user_id: String,
    /// Lower-cased; may be empty when the provider shares none.
    pub email_address: String,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub username: Option<String>,
    pub approved_scopes: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub token_expires_at: Option<i64>,
    /// A username for a new user, when the instance requires one.
    #[serde(default)]
    pub new_username: Option<String>,
}

/// A verified identity kept on a sign-in for the sign-up it is transferred
/// to: which kind of provider vouched for it decides how it is used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExternalIdentity {
    Enterprise(super::enterprise::EnterpriseIdentity),
    Social(SocialIdentity),
}

/// What a social sign-in leads to.
#[derive(Debug, Clone)]
pub enum SocialSignIn {
    User(EnterpriseUser),
    /// Nobody holds the identity and a new user needs more than the
    /// provider gave (a username, or an email address it did not share).
    NeedsSignUp,
}

/// What a provider token is sealed for: the account it belongs to.
pub fn token_context(provider: &str, provider_user_id: &str) -> String {
    format!("external_accounts.token:{provider}:{provider_user_id}")
}

fn verification(row: &AccountRow) -> Value {
    json!({
        "object": "verification_oauth",
        "status": "verified",
        "strategy": row.provider,
        "external_verification_redirect_url": Value::Null,
        "error": Value::Null,
        "expire_at": Value::Null,
        "attempts": Value::Null,
    })
}

/// Clerk's `external_account` object.
fn object(row: &AccountRow) -> Value {
    json!({
        "object": "external_account",
        "id": row.id,
        "external_account_id": row.id,
        "provider": row.provider,
        "identification_id": row.id,
        "provider_user_id": row.provider_user_id,
        "approved_scopes": row.approved_scopes,
        "email_address": row.email_address,
        "email_address_verified": row.email_verified,
        "first_name": row.first_name.clone().unwrap_or_default(),
        "last_name": row.last_name.clone().unwrap_or_default(),
        "avatar_url": row.image_url.clone().unwrap_or_default(),
        "image_url": row.image_url,
        "username": row.username,
        "phone_number": Value::Null,
        "public_metadata": serde_json::from_str::<Value>(&row.public_metadata).unwrap_or_else(|_| json!({})),
        "label": Value::Null,
        "verification": verification(row),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

/// Fills `external_accounts` of `users`.
pub fn attach(conn: &mut DbConnection, users: &mut [super::model::UserObject]) -> QueryResult<()> {
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let rows: Vec<AccountRow> = external_accounts::table
        .filter(external_accounts::user_id.eq_any(&ids))
        .order((external_accounts::created_at, external_accounts::id))
        .select(AccountRow::as_select())
        .load(conn)?;
    for user in users.iter_mut() {
        user.external_accounts
            .extend(rows.iter().filter(|r| r.user_id == user.id).map(object));
    }
    Ok(())
}

/// The user `identity` signs in as, in one transaction:
/// - the user already linked to this provider account;
/// - else, when the provider vouched for the address, its holder, now
///   linked (the address marked verified);
/// - else, when nobody holds the address, a new user (or
///   [`SocialSignIn::NeedsSignUp`] when the instance needs a username or
///   the provider shared no address);
/// - an address held by someone that the provider did not vouch for is
///   refused (`oauth_identification_claimed`): it would hand over their
///   account.
pub async fn sign_in(
    state: &AppState,
    mut identity: SocialIdentity,
) -> Result<SocialSignIn, ApiError> {
    let auth = &state.settings.auth;
    identity.new_username = identity
        .new_username
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .map(|u| super::validate::normalize_username(u, auth))
        .transpose()?;
    let more_needed = (auth.username_required && identity.new_username.is_none())
        || identity.email_address.is_empty();
    let outcome = match try_sign_in(state, identity.clone(), more_needed).await {
        // The same person's concurrent first sign-in won the race.
        Err(e) if e.code() == ErrorCode::Conflict => {
            try_sign_in(state, identity, more_needed).await?
        }
        other => other?,
    };
    push::deliver_soon(state).await;
    Ok(outcome)
}

async fn try_sign_in(
    state: &AppState,
    identity: SocialIdentity,
    more_needed: bool,
) -> Result<SocialSignIn, ApiError> {
    pool(state)
        .run("users.social_sign_in", move |conn| {
            let identity = identity.clone();
            write_transaction(conn, |conn| sign_in_on(conn, &identity, more_needed))
        })
        .await
}

fn claimed() -> ApiError {
    ApiError::new(
        ErrorCode::OauthIdentificationClaimed,
        "Identification claimed by another user",
        "The email address associated with this OAuth account is already claimed by another user.",
    )
}

fn sign_in_on(
    conn: &mut DbConnection,
    identity: &SocialIdentity,
    more_needed: bool,
) -> Result<SocialSignIn, ApiError> {
    let now = now_ms();
    let person = Person {
        email_address: &identity.email_address,
        email_verified: identity.email_verified,
        verification_strategy: &format!("from_{}", identity.provider),
        first_name: identity.first_name.as_deref(),
        last_name: identity.last_name.as_deref(),
        username: identity.new_username.as_deref(),
    };
    let existing: Option<AccountRow> = external_accounts::table
        .filter(external_accounts::provider.eq(&identity.provider))
        .filter(external_accounts::provider_user_id.eq(&identity.provider_user_id))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(mut account) = existing {
        refresh(&mut account, identity, now);
        diesel::update(external_accounts::table.find(&account.id))
            .set(&account)
            .execute(conn)?;
        push::user_changed(conn, &account.user_id)?;
        return Ok(SocialSignIn::User(EnterpriseUser {
            user_id: UserId::from(account.user_id),
            created: false,
        }));
    }
    let holder = if identity.email_address.is_empty() {
        None
    } else {
        store::find_email(conn, &identity.email_address)?
    };
    let (user_id, created) = match holder {
        Some(email) if identity.email_verified => {
            if email.verification_status != "verified" {
                diesel::update(email_addresses::table.find(&email.id))
                    .set((
                        email_addresses::verification_status.eq("verified"),
                        email_addresses::verification_strategy.eq(person.verification_strategy),
                        email_addresses::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            (email.user_id, false)
        }
        Some(_) => return Err(claimed()),
        None if more_needed => return Ok(SocialSignIn::NeedsSignUp),
        None => (create_user(conn, &person, now)?, true),
    };
    if created {
        sync_names(conn, &user_id, &person, now)?;
    }
    let mut account = new_account(&user_id, identity, now);
    refresh(&mut account, identity, now);
    diesel::insert_into(external_accounts::table)
        .values(&account)
        .execute(conn)
        .map_err(unique_to_conflict)?;
    push::user_changed(conn, &user_id)?;
    Ok(SocialSignIn::User(EnterpriseUser {
        user_id: UserId::from(user_id),
        created,
    }))
}

/// A new account of `user_id` at the provider `identity` names, filled by
/// [`refresh`].
fn new_account(user_id: &str, identity: &SocialIdentity, now: i64) -> AccountRow {
    AccountRow {
        id: new_id("eac"),
        user_id: user_id.to_owned(),
        provider: identity.provider.clone(),
        provider_user_id: identity.provider_user_id.clone(),
        email_address: String::new(),
        email_verified: false,
        first_name: None,
        last_name: None,
        image_url: None,
        username: None,
        approved_scopes: String::new(),
        access_token: None,
        refresh_token: None,
        token_expires_at: None,
        public_metadata: "{}".to_owned(),
        last_authenticated_at: now,
        created_at: now,
        updated_at: now,
    }
}

/// What the provider said this time: profile, scopes and tokens.
fn refresh(account: &mut AccountRow, identity: &SocialIdentity, now: i64) {
    account.email_address = identity.email_address.clone();
    account.email_verified = identity.email_verified;
    account.first_name = identity.first_name.clone();
    account.last_name = identity.last_name.clone();
    account.image_url = identity.image_url.clone();
    account.username = identity.username.clone();
    account.approved_scopes = identity.approved_scopes.clone();
    account.access_token = identity.access_token.clone();
    if identity.refresh_token.is_some() {
        account.refresh_token = identity.refresh_token.clone();
    }
    account.token_expires_at = identity.token_expires_at;
    account.last_authenticated_at = now;
    account.updated_at = now;
}

/// `GET /v1/users/{id}/oauth_access_tokens/{provider}`: the user's tokens
/// at `provider` (its sealed access tokens opened), as Clerk's
/// `oauth_access_token` objects.
pub async fn access_tokens(
    state: &AppState,
    user_id: UserId,
    provider: String,
) -> Result<Vec<Value>, ApiError> {
    let key =
        crate::instance::encryption::configured_key(&state.settings).map_err(ApiError::internal)?;
    let rows = pool(state)
        .run("users.oauth_access_tokens", move |conn| {
            if store::find_user(conn, user_id.as_str())?.is_none() {
                return Err(ApiError::not_found("user"));
            }
            external_accounts::table
                .filter(external_accounts::user_id.eq(user_id.as_str()))
                .filter(external_accounts::provider.eq(&provider))
                .order(external_accounts::created_at)
                .select(AccountRow::as_select())
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let mut tokens = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(sealed) = &row.access_token else {
            continue;
        };
        let token = key
            .open(sealed, &token_context(&row.provider, &row.provider_user_id))
            .map_err(|e| ApiError::internal(format!("an OAuth token cannot be opened: {e}")))?;
        let token = String::from_utf8(secrecy::ExposeSecret::expose_secret(&token).to_vec())
            .map_err(ApiError::internal)?;
        tokens.push(json!({
            "object": "oauth_access_token",
            "external_account_id": row.id,
            "provider_user_id": row.provider_user_id,
            "token": token,
            "provider": row.provider,
            "public_metadata": {},
            "label": Value::Null,
            "scopes": row.approved_scopes.split_whitespace().collect::<Vec<_>>(),
            "token_secret": Value::Null,
            "expires_at": row.token_expires_at.map(|ms| ms / 1000),
        }));
    }
    Ok(tokens)
}

/// How many users have an account at each provider (for the Backend API's
/// connection listing).
pub async fn account_counts(state: &AppState) -> Result<HashMap<String, i64>, ApiError> {
    pool(state)
        .run("users.external_account_counts", |conn| {
            let counts: Vec<(String, i64)> = external_accounts::table
                .group_by(external_accounts::provider)
                .select((external_accounts::provider, diesel::dsl::count_star()))
                .load(conn)?;
            Ok::<_, ApiError>(counts.into_iter().collect())
        })
        .await
}

fn already_connected() -> ApiError {
    ApiError::new(
        ErrorCode::OauthAccountAlreadyConnected,
        "Already connected",
        "This account at the provider is already connected to another user.",
    )
}

/// Connects the provider account `identity` to the signed-in `user_id`
/// (`POST /v1/me/external_accounts`, after the provider's answer). An
/// account already connected to this user is refreshed; one connected to
/// someone else is refused.
pub async fn connect(
    state: &AppState,
    user_id: UserId,
    identity: SocialIdentity,
) -> Result<Value, ApiError> {
    let account = pool(state)
        .run("users.social_connect", move |conn| {
            let identity = identity.clone();
            let user_id = user_id.clone();
            write_transaction(conn, |conn| {
                let now = now_ms();
                super::service::load(conn, user_id.as_str())?;
                let existing: Option<AccountRow> = external_accounts::table
                    .filter(external_accounts::provider.eq(&identity.provider))
                    .filter(external_accounts::provider_user_id.eq(&identity.provider_user_id))
                    .select(AccountRow::as_select())
                    .first(conn)
                    .optional()?;
                let account = match existing {
                    Some(account) if account.user_id != user_id.as_str() => {
                        return Err(already_connected())
                    }
                    Some(mut account) => {
                        refresh(&mut account, &identity, now);
                        diesel::update(external_accounts::table.find(&account.id))
                            .set(&account)
                            .execute(conn)?;
                        account
                    }
                    None => {
                        let mut account = new_account(user_id.as_str(), &identity, now);
                        refresh(&mut account, &identity, now);
                        diesel::insert_into(external_accounts::table)
                            .values(&account)
                            .execute(conn)
                            .map_err(|e| match unique_to_conflict(e) {
                                e if e.code() == ErrorCode::Conflict => already_connected(),
                                other => other,
                            })?;
                        account
                    }
                };
                push::user_changed(conn, user_id.as_str())?;
                Ok::<_, ApiError>(account)
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(object(&account))
}

/// `DELETE /v1/me/external_accounts/{id}`: disconnects one of the user's
/// provider accounts — never the last way they can sign in (a password, a
/// verified email address for codes, another linked account).
pub async fn disconnect(
    state: &AppState,
    user_id: UserId,
    account_id: String,
) -> Result<super::model::DeletedObject, ApiError> {
    let deleted = pool(state)
        .run("users.social_disconnect", move |conn| {
            let (user_id, account_id) = (user_id.clone(), account_id.clone());
            write_transaction(conn, |conn| {
                let user = super::service::load_for_update(conn, user_id.as_str())?;
                let account: AccountRow = external_accounts::table
                    .find(&account_id)
                    .filter(external_accounts::user_id.eq(&user.id))
                    .select(AccountRow::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| ApiError::not_found("external account"))?;
                let other_accounts: i64 = external_accounts::table
                    .filter(external_accounts::user_id.eq(&user.id))
                    .filter(external_accounts::id.ne(&account.id))
                    .count()
                    .get_result(conn)?;
                let enterprise: i64 = crate::db::schema::enterprise_accounts::table
                    .filter(crate::db::schema::enterprise_accounts::user_id.eq(&user.id))
                    .count()
                    .get_result(conn)?;
                let verified_emails: i64 = email_addresses::table
                    .filter(email_addresses::user_id.eq(&user.id))
                    .filter(email_addresses::verification_status.eq("verified"))
                    .count()
                    .get_result(conn)?;
                let another_way = user.password_digest.is_some()
                    || verified_emails > 0
                    || other_accounts > 0
                    || enterprise > 0;
                if !another_way {
                    return Err(ApiError::new(
                        ErrorCode::ActionNotAllowed,
                        "Last way to sign in",
                        "This account is the user's last way to sign in; add a password or another sign-in method first.",
                    ));
                }
                diesel::delete(external_accounts::table.find(&account.id)).execute(conn)?;
                push::user_changed(conn, &user.id)?;
                Ok::<_, ApiError>(super::model::DeletedObject {
                    object: "external_account",
                    id: account.id,
                    deleted: true,
                })
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(deleted)
}
