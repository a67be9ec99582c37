//! Accounts at enterprise identity providers (SAML connections) linked to
//! users: Clerk's `enterprise_accounts` and `saml_accounts` on the user
//! object, and the one operation the SAML area needs — find the user an
//! IdP vouched for, linking or creating them.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::model::{EmailAddressRow, UserObject, UserRow};
use super::service::pool;
use super::{push, store};
use crate::crypto::ids::{new_id, prefix};
use crate::db::schema::enterprise_accounts;
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode};
use crate::ids::UserId;
use crate::state::AppState;
use crate::time::now_ms;

/// An `enterprise_accounts` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = enterprise_accounts, treat_none_as_null = true)]
pub struct AccountRow {
    pub id: String,
    pub user_id: String,
    pub protocol: String,
    pub provider: String,
    pub connection_id: String,
    pub connection_name: String,
    pub provider_user_id: String,
    pub email_address: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub public_metadata: String,
    pub active: bool,
    pub last_authenticated_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Who an enterprise IdP says signed in, already verified by the caller.
/// Kept as JSON on a sign-in that must become a sign-up (see
/// [`EnterpriseSignIn::NeedsSignUp`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnterpriseIdentity {
    pub protocol: String,
    pub provider: String,
    pub connection_id: String,
    pub connection_name: String,
    /// The IdP's id for the person (the NameID, or the mapped attribute).
    pub provider_user_id: String,
    /// Lower-cased, and within the connection's domains.
    pub email_address: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The other attributes, as a JSON object.
    pub public_metadata: Value,
    /// Refresh the user's names from the IdP on every sign-in.
    pub sync_user_attributes: bool,
    /// A username for a new user, when the instance requires one (given
    /// on the sign-up the sign-in was transferred to).
    #[serde(default)]
    pub username: Option<String>,
    /// The organization the connection adds its users to; the caller adds
    /// the membership.
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// What an enterprise sign-in leads to.
#[derive(Debug, Clone)]
pub enum EnterpriseSignIn {
    User(EnterpriseUser),
    /// Nobody holds the identity, and a new user needs more than the IdP
    /// gave (a username the instance requires): the sign-in is transferred
    /// to a sign-up that collects it.
    NeedsSignUp,
}

/// The user an identity signs in as.
#[derive(Debug, Clone)]
pub struct EnterpriseUser {
    pub user_id: UserId,
    /// Made just now (just-in-time provisioning).
    pub created: bool,
}

fn saml_verification(at: i64) -> Value {
    json!({
        "object": "verification_saml",
        "status": "verified",
        "strategy": "saml",
        "attempts": Value::Null,
        "expire_at": Value::Null,
        "external_verification_redirect_url": Value::Null,
        "error": Value::Null,
        "verified_at_client": Value::Null,
        "created_at": at,
    })
}

/// Clerk's `enterprise_account` and `saml_account` objects of one account.
fn objects(row: &AccountRow) -> (Value, Value) {
    let public_metadata: Value =
        serde_json::from_str(&row.public_metadata).unwrap_or_else(|_| json!({}));
    let connection = json!({
        "id": row.connection_id,
        "name": row.connection_name,
        "protocol": row.protocol,
        "provider": row.provider,
        "active": true,
        "logo_public_url": Value::Null,
        "domain": row.email_address.rsplit_once('@').map(|(_, d)| d).unwrap_or(""),
        "sync_user_attributes": true,
        "allow_subdomains": false,
        "allow_idp_initiated": false,
        "disable_additional_identifications": false,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    });
    let enterprise = json!({
        "object": "enterprise_account",
        "id": row.id,
        "protocol": row.protocol,
        "provider": row.provider,
        "active": row.active,
        "email_address": row.email_address,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "provider_user_id": row.provider_user_id,
        "enterprise_connection_id": row.connection_id,
        "public_metadata": public_metadata,
        "verification": saml_verification(row.created_at),
        "enterprise_connection": connection,
        "last_authenticated_at": row.last_authenticated_at,
    });
    let saml = json!({
        "object": "saml_account",
        "id": row.id,
        "provider": row.provider,
        "active": row.active,
        "email_address": row.email_address,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "provider_user_id": row.provider_user_id,
        "public_metadata": enterprise["public_metadata"],
        "verification": saml_verification(row.created_at),
        "saml_connection": enterprise["enterprise_connection"],
        "last_authenticated_at": row.last_authenticated_at,
    });
    (enterprise, saml)
}

/// Fills `enterprise_accounts` and `saml_accounts` of `users`.
pub fn attach(conn: &mut DbConnection, users: &mut [UserObject]) -> QueryResult<()> {
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let rows: Vec<AccountRow> = enterprise_accounts::table
        .filter(enterprise_accounts::user_id.eq_any(&ids))
        .order((enterprise_accounts::created_at, enterprise_accounts::id))
        .select(AccountRow::as_select())
        .load(conn)?;
    if rows.is_empty() {
        return Ok(());
    }
    for user in users.iter_mut() {
        for row in rows.iter().filter(|r| r.user_id == user.id) {
            let (enterprise, saml) = objects(row);
            user.enterprise_accounts.push(enterprise);
            if row.protocol == "saml" {
                user.saml_accounts.push(saml);
            }
        }
    }
    Ok(())
}

/// How many users have signed in through each of `connection_ids`.
pub async fn account_counts(
    state: &AppState,
    connection_ids: Vec<String>,
) -> Result<HashMap<String, i64>, ApiError> {
    if connection_ids.is_empty() {
        return Ok(HashMap::new());
    }
    pool(state)
        .run("users.enterprise_account_counts", move |conn| {
            let counts: Vec<(String, i64)> = enterprise_accounts::table
                .filter(enterprise_accounts::connection_id.eq_any(&connection_ids))
                .group_by(enterprise_accounts::connection_id)
                .select((
                    enterprise_accounts::connection_id,
                    diesel::dsl::count_star(),
                ))
                .load(conn)?;
            Ok::<_, ApiError>(counts.into_iter().collect())
        })
        .await
}

/// How many users have signed in through `connection_id`.
pub async fn account_count(state: &AppState, connection_id: String) -> Result<i64, ApiError> {
    let id = connection_id.clone();
    Ok(account_counts(state, vec![connection_id])
        .await?
        .get(&id)
        .copied()
        .unwrap_or(0))
}

fn email_owner(conn: &mut DbConnection, email: &str) -> Result<Option<EmailAddressRow>, ApiError> {
    Ok(store::find_email(conn, email)?)
}

/// The user `identity` signs in as, in one transaction:
/// - the user already linked to this account at this connection;
/// - else the user who holds the email address, verified (the IdP is
///   trusted for its own domains), now linked;
/// - else a new user with that email address, verified by SAML.
///
/// Names are refreshed from the IdP when the connection syncs attributes.
/// Two first sign-ins of the same person at once make one user: the
/// account and the email address are unique keys, and the loser of that
/// race reads the winner's user.
pub async fn sign_in(
    state: &AppState,
    mut identity: EnterpriseIdentity,
) -> Result<EnterpriseSignIn, ApiError> {
    let auth = &state.settings.auth;
    identity.username = identity
        .username
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .map(|u| super::validate::normalize_username(u, auth))
        .transpose()?;
    let username_missing = auth.username_required && identity.username.is_none();
    let first = try_sign_in(state, identity.clone(), username_missing).await;
    let outcome = match first {
        Err(e) if e.code() == ErrorCode::Conflict => {
            try_sign_in(state, identity, username_missing).await?
        }
        other => other?,
    };
    push::deliver_soon(state).await;
    Ok(outcome)
}

async fn try_sign_in(
    state: &AppState,
    identity: EnterpriseIdentity,
    username_missing: bool,
) -> Result<EnterpriseSignIn, ApiError> {
    pool(state)
        .run("users.enterprise_sign_in", move |conn| {
            let identity = identity.clone();
            write_transaction(conn, |conn| sign_in_on(conn, &identity, username_missing))
        })
        .await
}

/// A unique key another transaction filled first: the same person's
/// concurrent first sign-in, which [`sign_in`] retries once.
pub(super) fn unique_to_conflict(error: diesel::result::Error) -> ApiError {
    match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => ApiError::new(
            ErrorCode::Conflict,
            "Concurrent sign-in",
            "Another sign-in of this person is being processed.",
        ),
        other => ApiError::from(other),
    }
}

fn sign_in_on(
    conn: &mut DbConnection,
    identity: &EnterpriseIdentity,
    username_missing: bool,
) -> Result<EnterpriseSignIn, ApiError> {
    let now = now_ms();
    let existing: Option<AccountRow> = enterprise_accounts::table
        .filter(enterprise_accounts::connection_id.eq(&identity.connection_id))
        .filter(enterprise_accounts::provider_user_id.eq(&identity.provider_user_id))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(mut account) = existing {
        account.last_authenticated_at = now;
        account.updated_at = now;
        account.connection_name = identity.connection_name.clone();
        if identity.sync_user_attributes {
            account.email_address = identity.email_address.clone();
            account.first_name = identity.first_name.clone();
            account.last_name = identity.last_name.clone();
            account.public_metadata = identity.public_metadata.to_string();
            sync_names(conn, &account.user_id, &identity.person(), now)?;
        }
        diesel::update(enterprise_accounts::table.find(&account.id))
            .set(&account)
            .execute(conn)?;
        push::user_changed(conn, &account.user_id)?;
        return Ok(EnterpriseSignIn::User(EnterpriseUser {
            user_id: UserId::from(account.user_id),
            created: false,
        }));
    }
    let (user_id, created) = match email_owner(conn, &identity.email_address)? {
        Some(email) => {
            if email.verification_status != "verified" {
                // An unverified address proves nothing about who holds the
                // account: the IdP's person gets it, verified by SAML.
                diesel::update(crate::db::schema::email_addresses::table.find(&email.id))
                    .set((
                        crate::db::schema::email_addresses::verification_status.eq("verified"),
                        crate::db::schema::email_addresses::verification_strategy.eq("saml"),
                        crate::db::schema::email_addresses::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            if identity.sync_user_attributes {
                sync_names(conn, &email.user_id, &identity.person(), now)?;
            }
            (email.user_id, false)
        }
        None if username_missing => return Ok(EnterpriseSignIn::NeedsSignUp),
        None => (create_user(conn, &identity.person(), now)?, true),
    };
    let account = AccountRow {
        id: new_id("eac"),
        user_id: user_id.clone(),
        protocol: identity.protocol.clone(),
        provider: identity.provider.clone(),
        connection_id: identity.connection_id.clone(),
        connection_name: identity.connection_name.clone(),
        provider_user_id: identity.provider_user_id.clone(),
        email_address: identity.email_address.clone(),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        public_metadata: identity.public_metadata.to_string(),
        active: true,
        last_authenticated_at: now,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(enterprise_accounts::table)
        .values(&account)
        .execute(conn)
        .map_err(unique_to_conflict)?;
    push::user_changed(conn, &user_id)?;
    Ok(EnterpriseSignIn::User(EnterpriseUser {
        user_id: UserId::from(user_id),
        created,
    }))
}

/// Who an outside identity provider vouched for, as the user row needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Person<'a> {
    pub email_address: &'a str,
    /// Whether the provider vouched for the address (a SAML IdP always
    /// does for its domains; an OAuth provider says so per address).
    pub email_verified: bool,
    /// The email's verification strategy: `saml`, `from_oauth_google`, …
    pub verification_strategy: &'a str,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// Refreshes the user's names from the provider (when it sent any).
pub(super) fn sync_names(
    conn: &mut DbConnection,
    user_id: &str,
    person: &Person<'_>,
    now: i64,
) -> Result<(), ApiError> {
    use crate::db::schema::users;
    if person.first_name.is_none() && person.last_name.is_none() {
        return Ok(());
    }
    diesel::update(users::table.find(user_id))
        .set((
            users::first_name.eq(person.first_name),
            users::last_name.eq(person.last_name),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new user for `person` (just-in-time provisioning); returns its id.
pub(super) fn create_user(
    conn: &mut DbConnection,
    person: &Person<'_>,
    now: i64,
) -> Result<String, ApiError> {
    if let Some(username) = person.username {
        if store::owner_of_username(conn, username)?.is_some() {
            return Err(ApiError::identifier_exists("username", "username"));
        }
    }
    let user_id = new_id(prefix::USER);
    let email = EmailAddressRow {
        id: new_id(prefix::IDENTIFICATION),
        user_id: user_id.clone(),
        email_address: person.email_address.to_owned(),
        verification_status: if person.email_verified {
            "verified"
        } else {
            "unverified"
        }
        .to_owned(),
        verification_strategy: person.verification_strategy.to_owned(),
        reserved: false,
        created_at: now,
        updated_at: now,
    };
    let row = UserRow {
        id: user_id.clone(),
        external_id: None,
        username: person.username.map(str::to_owned),
        first_name: person.first_name.map(str::to_owned),
        last_name: person.last_name.map(str::to_owned),
        locale: None,
        password_last_updated_at: None,
        password_hasher: None,
        password_digest: None,
        primary_email_address_id: Some(email.id.clone()),
        public_metadata: "{}".to_owned(),
        private_metadata: "{}".to_owned(),
        unsafe_metadata: "{}".to_owned(),
        banned: false,
        locked_until: None,
        delete_self_enabled: true,
        create_organization_enabled: true,
        create_organizations_limit: None,
        legal_accepted_at: None,
        last_sign_in_at: None,
        last_active_at: None,
        created_at: now,
        updated_at: now,
        last_authentication_strategy: None,
    };
    store::insert_user(conn, &row).map_err(unique_to_conflict)?;
    store::insert_emails(conn, std::slice::from_ref(&email)).map_err(unique_to_conflict)?;
    Ok(user_id)
}

impl EnterpriseIdentity {
    fn person(&self) -> Person<'_> {
        Person {
            email_address: &self.email_address,
            email_verified: true,
            verification_strategy: "saml",
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            username: self.username.as_deref(),
        }
    }
}
