//! User management: the logic behind the Backend API users endpoints.
//! Other modules reach users only through these functions (and those
//! re-exported from `auth`).

use std::collections::HashMap;

use serde_json::{Map, Value};

pub use super::auth::{
    check_new_identity, find_by_identifier, frontend_user, may_create_organization,
    public_user_data, record_credential_check, record_sign_in, sign_in_user_by_id, SignInUser,
};
use super::list::ListUsersParams;
use super::model::{DeletedObject, EmailAddressRow, TotalCount, UserObject, UserRow};
use super::password::prepare_password;
pub use super::requests::CreateUser;
use super::requests::{MetadataPatch, UpdateUser};
use super::{store, validate};
use crate::crypto::ids::{self, new_id, prefix};
use crate::db::{write_transaction, DbConnection, DbPool};
use crate::http::{ApiError, Patch};
use crate::metadata;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

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

/// `POST /v1/users`: validates everything first, then writes the user and
/// their email addresses in one transaction.
pub async fn create_user(state: &AppState, input: CreateUser) -> Result<UserObject, ApiError> {
    for (param, value) in [
        ("phone_number", &input.phone_number),
        ("web3_wallet", &input.web3_wallet),
        ("totp_secret", &input.totp_secret),
        ("backup_codes", &input.backup_codes),
    ] {
        validate::refuse_unsupported(param, value)?;
    }
    let auth = &state.settings.auth;
    let emails = validate::normalize_emails(&input.email_address)?;
    let username = input
        .username
        .as_deref()
        .map(|u| validate::normalize_username(u, auth))
        .transpose()?;
    if emails.is_empty() && (auth.email_address_required || username.is_none()) {
        return Err(ApiError::param_missing("email_address"));
    }
    if username.is_none() && auth.username_required {
        return Err(ApiError::param_missing("username"));
    }
    let first_name =
        validate::optional_text("first_name", input.first_name, validate::MAX_NAME_LEN)?;
    let last_name = validate::optional_text("last_name", input.last_name, validate::MAX_NAME_LEN)?;
    let external_id =
        validate::optional_text("external_id", input.external_id, validate::MAX_NAME_LEN)?;
    let locale = input
        .locale
        .as_deref()
        .map(validate::locale)
        .transpose()?
        .flatten();
    let public_metadata = metadata::metadata_text("public_metadata", input.public_metadata)?;
    let private_metadata = metadata::metadata_text("private_metadata", input.private_metadata)?;
    let unsafe_metadata = metadata::metadata_text("unsafe_metadata", input.unsafe_metadata)?;
    let created_at = validate::optional_rfc3339_ms("created_at", input.created_at.as_deref())?;
    let legal_accepted_at =
        validate::optional_rfc3339_ms("legal_accepted_at", input.legal_accepted_at.as_deref())?;
    let create_organizations_limit = input
        .create_organizations_limit
        .map(validate::organizations_limit)
        .transpose()?;
    let password_given = input.password.is_some() || input.password_digest.is_some();
    if !password_given && auth.password.required && !input.skip_password_requirement {
        return Err(ApiError::param_missing("password"));
    }
    let password = prepare_password(
        state,
        input.password,
        input.password_digest,
        input.password_hasher,
        input.skip_password_checks,
    )
    .await?;

    let now = now_ms();
    let user_id = new_id(prefix::USER);
    let email_rows: Vec<EmailAddressRow> = emails
        .into_iter()
        .map(|email_address| EmailAddressRow {
            id: new_id(prefix::IDENTIFICATION),
            user_id: user_id.clone(),
            email_address,
            verification_status: "verified".to_owned(),
            verification_strategy: "admin".to_owned(),
            reserved: false,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let row = UserRow {
        id: user_id,
        external_id,
        username,
        first_name,
        last_name,
        locale,
        password_last_updated_at: password.as_ref().map(|_| now),
        password_hasher: password.as_ref().map(|p| p.hasher.name().to_owned()),
        password_digest: password.map(|p| p.digest),
        primary_email_address_id: email_rows.first().map(|e| e.id.clone()),
        public_metadata,
        private_metadata,
        unsafe_metadata,
        banned: input.banned,
        locked_until: input.locked.then(|| now + lockout_ms(state)),
        delete_self_enabled: input.delete_self_enabled.unwrap_or(true),
        create_organization_enabled: input.create_organization_enabled.unwrap_or(true),
        create_organizations_limit,
        legal_accepted_at,
        last_sign_in_at: None,
        last_active_at: None,
        created_at: created_at.unwrap_or(now),
        updated_at: now,
        last_authentication_strategy: None,
    };
    pool(state)
        .run("users.create", move |conn| {
            let (email_rows, row) = (email_rows.clone(), row.clone());
            write_transaction(conn, |conn| {
                for email in &email_rows {
                    ensure_free(
                        store::owner_of_email(conn, &email.email_address)?,
                        &row.id,
                        "email_address",
                        "email address",
                    )?;
                }
                if let Some(username) = &row.username {
                    ensure_free(
                        store::owner_of_username(conn, username)?,
                        &row.id,
                        "username",
                        "username",
                    )?;
                }
                if let Some(external_id) = &row.external_id {
                    ensure_free(
                        store::owner_of_external_id(conn, external_id)?,
                        &row.id,
                        "external_id",
                        "external ID",
                    )?;
                }
                store::insert_user(conn, &row)?;
                store::insert_emails(conn, &email_rows)?;
                Ok(UserObject::from_rows(row, email_rows, now))
            })
        })
        .await
}

pub(super) fn lockout_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings.security.lockout.duration.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Trims, lower-cases and checks an email address (`email_address`).
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    validate::normalize_email("email_address", raw)
}

/// The user's verified email addresses.
pub async fn verified_emails(state: &AppState, user_id: String) -> Result<Vec<String>, ApiError> {
    pool(state)
        .run("users.verified_emails", move |conn| {
            Ok::<_, ApiError>(
                store::emails_of(conn, &user_id)?
                    .into_iter()
                    .filter(|e| e.verification_status == "verified")
                    .map(|e| e.email_address)
                    .collect(),
            )
        })
        .await
}

/// `GET /v1/users`.
pub async fn list_users(
    state: &AppState,
    params: ListUsersParams,
) -> Result<Vec<UserObject>, ApiError> {
    let filter = params.filter()?;
    let order = params.order()?;
    let page = params.pagination()?;
    pool(state)
        .run("users.list", move |conn| {
            let rows = store::list_users(conn, &filter, order, page)?;
            with_emails(conn, rows)
        })
        .await
}

/// Attaches each user's email addresses, in one query for the whole page.
fn with_emails(conn: &mut DbConnection, rows: Vec<UserRow>) -> Result<Vec<UserObject>, ApiError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut by_user: HashMap<String, Vec<EmailAddressRow>> = HashMap::new();
    for email in store::emails_of_users(conn, &ids)? {
        by_user
            .entry(email.user_id.clone())
            .or_default()
            .push(email);
    }
    let now = now_ms();
    Ok(rows
        .into_iter()
        .map(|row| {
            let emails = by_user.remove(&row.id).unwrap_or_default();
            UserObject::from_rows(row, emails, now)
        })
        .collect())
}

/// `GET /v1/users/count`.
pub async fn count_users(
    state: &AppState,
    params: ListUsersParams,
) -> Result<TotalCount, ApiError> {
    let filter = params.filter()?;
    let total = pool(state)
        .run("users.count", move |conn| {
            store::count_users(conn, &filter).map_err(ApiError::from)
        })
        .await?;
    Ok(TotalCount::new(total))
}

/// Loads a user row or answers 404.
pub(super) fn load(conn: &mut DbConnection, id: &str) -> Result<UserRow, ApiError> {
    if !ids::has_shape(id, prefix::USER) {
        return Err(ApiError::not_found("user"));
    }
    store::find_user(conn, id)?.ok_or_else(|| ApiError::not_found("user"))
}

fn to_object(conn: &mut DbConnection, row: UserRow) -> Result<UserObject, ApiError> {
    let emails = store::emails_of(conn, &row.id)?;
    Ok(UserObject::from_rows(row, emails, now_ms()))
}

/// `GET /v1/users/{id}`.
pub async fn get_user(state: &AppState, id: String) -> Result<UserObject, ApiError> {
    pool(state)
        .run("users.get", move |conn| {
            let row = load(conn, &id)?;
            to_object(conn, row)
        })
        .await
}

/// Loads the user, applies `change`, saves it, all in one write transaction.
pub(super) async fn modify<F>(
    state: &AppState,
    query: &'static str,
    id: String,
    change: F,
) -> Result<UserObject, ApiError>
where
    F: Fn(&mut DbConnection, &mut UserRow) -> Result<(), ApiError> + Send + Sync + 'static,
{
    pool(state)
        .run(query, move |conn| {
            write_transaction(conn, |conn| {
                let mut row = load(conn, &id)?;
                change(conn, &mut row)?;
                row.updated_at = now_ms();
                store::save_user(conn, &row)?;
                to_object(conn, row)
            })
        })
        .await
}

/// `PATCH /v1/users/{id}`.
pub async fn update_user(
    state: &AppState,
    id: String,
    input: UpdateUser,
) -> Result<UserObject, ApiError> {
    for (param, value) in [
        ("primary_phone_number_id", &input.primary_phone_number_id),
        ("primary_web3_wallet_id", &input.primary_web3_wallet_id),
        ("totp_secret", &input.totp_secret),
        ("backup_codes", &input.backup_codes),
    ] {
        validate::refuse_unsupported(param, value)?;
    }
    let auth = state.settings.auth.clone();
    let username = match input.username {
        Patch::Value(u) => Patch::Value(validate::normalize_username(&u, &auth)?),
        Patch::Null if auth.username_required => return Err(ApiError::param_missing("username")),
        other => other,
    };
    let external_id = validate::text_patch("external_id", input.external_id)?;
    let first_name = validate::text_patch("first_name", input.first_name)?;
    let last_name = validate::text_patch("last_name", input.last_name)?;
    let locale = match input.locale {
        Patch::Value(l) => validate::locale(&l)?.map_or(Patch::Null, Patch::Value),
        other => other,
    };
    let metadata = [
        metadata::metadata_patch("public_metadata", input.public_metadata)?,
        metadata::metadata_patch("private_metadata", input.private_metadata)?,
        metadata::metadata_patch("unsafe_metadata", input.unsafe_metadata)?,
    ];
    let created_at = validate::optional_rfc3339_ms("created_at", input.created_at.as_deref())?;
    let legal_accepted_at =
        validate::optional_rfc3339_ms("legal_accepted_at", input.legal_accepted_at.as_deref())?;
    let organizations_limit = match input.create_organizations_limit {
        Patch::Value(limit) => Patch::Value(validate::organizations_limit(limit)?),
        other => other,
    };
    let password = prepare_password(
        state,
        input.password,
        input.password_digest,
        input.password_hasher,
        input.skip_password_checks,
    )
    .await?;
    let primary_email = input.primary_email_address_id;
    let (delete_self, create_org) = (input.delete_self_enabled, input.create_organization_enabled);

    modify(state, "users.update", id, move |conn, row| {
        let (
            external_id,
            first_name,
            last_name,
            locale,
            metadata,
            organizations_limit,
            password,
            primary_email,
            username,
        ) = (
            external_id.clone(),
            first_name.clone(),
            last_name.clone(),
            locale.clone(),
            metadata.clone(),
            organizations_limit.clone(),
            password.clone(),
            primary_email.clone(),
            username.clone(),
        );
        if let Patch::Value(username) = &username {
            ensure_free(
                store::owner_of_username(conn, username)?,
                &row.id,
                "username",
                "username",
            )?;
        }
        if let Patch::Value(external_id) = &external_id {
            ensure_free(
                store::owner_of_external_id(conn, external_id)?,
                &row.id,
                "external_id",
                "external ID",
            )?;
        }
        if let Some(email_id) = primary_email {
            if !store::emails_of(conn, &row.id)?
                .iter()
                .any(|e| e.id == email_id)
            {
                return Err(ApiError::param_value(
                    "primary_email_address_id",
                    "primary_email_address_id must be one of the user's email addresses.",
                ));
            }
            row.primary_email_address_id = Some(email_id);
        }
        if let Some(change) = username.into_change() {
            row.username = change;
        }
        apply(&mut row.external_id, external_id);
        apply(&mut row.first_name, first_name);
        apply(&mut row.last_name, last_name);
        apply(&mut row.locale, locale);
        let [public, private, unsafe_] = metadata;
        for (column, value) in [
            (&mut row.public_metadata, public),
            (&mut row.private_metadata, private),
            (&mut row.unsafe_metadata, unsafe_),
        ] {
            if let Some(text) = value {
                *column = text;
            }
        }
        if let Some(change) = organizations_limit.into_change() {
            row.create_organizations_limit = change;
        }
        if let Some(value) = delete_self {
            row.delete_self_enabled = value;
        }
        if let Some(value) = create_org {
            row.create_organization_enabled = value;
        }
        if let Some(t) = created_at {
            row.created_at = t;
        }
        if let Some(t) = legal_accepted_at {
            row.legal_accepted_at = Some(t);
        }
        if let Some(password) = password {
            row.password_digest = Some(password.digest);
            row.password_hasher = Some(password.hasher.name().to_owned());
            row.password_last_updated_at = Some(now_ms());
        }
        Ok(())
    })
    .await
}

fn apply(column: &mut Option<String>, patch: Patch<String>) {
    if let Some(change) = patch.into_change() {
        *column = change;
    }
}

/// `DELETE /v1/users/{id}`.
pub async fn delete_user(state: &AppState, id: String) -> Result<DeletedObject, ApiError> {
    pool(state)
        .run("users.delete", move |conn| {
            write_transaction(conn, |conn| {
                let row = load(conn, &id)?;
                store::delete_user(conn, &row.id)?;
                Ok(DeletedObject {
                    object: "user",
                    id: row.id,
                    deleted: true,
                })
            })
        })
        .await
}

/// `PUT /v1/users/{id}/metadata`: each given object replaces the stored
/// one; kinds left out of the body stay as they are.
pub async fn replace_metadata(
    state: &AppState,
    id: String,
    input: MetadataPatch,
) -> Result<UserObject, ApiError> {
    let replacement = |param: &str, value: Option<Value>| {
        value
            .map(|v| metadata::metadata_text(param, Some(v)))
            .transpose()
    };
    let replacements = [
        replacement("public_metadata", input.public_metadata)?,
        replacement("private_metadata", input.private_metadata)?,
        replacement("unsafe_metadata", input.unsafe_metadata)?,
    ];
    modify(state, "users.replace_metadata", id, move |_conn, row| {
        let replacements = replacements.clone();
        let [public, private, unsafe_] = replacements;
        for (column, text) in [
            (&mut row.public_metadata, public),
            (&mut row.private_metadata, private),
            (&mut row.unsafe_metadata, unsafe_),
        ] {
            if let Some(text) = text {
                *column = text;
            }
        }
        Ok(())
    })
    .await
}

/// `PATCH /v1/users/{id}/metadata`: deep merge, `null` removes a key.
pub async fn merge_metadata(
    state: &AppState,
    id: String,
    input: MetadataPatch,
) -> Result<UserObject, ApiError> {
    let patches = [
        input
            .public_metadata
            .map(|v| metadata::metadata_object("public_metadata", v))
            .transpose()?,
        input
            .private_metadata
            .map(|v| metadata::metadata_object("private_metadata", v))
            .transpose()?,
        input
            .unsafe_metadata
            .map(|v| metadata::metadata_object("unsafe_metadata", v))
            .transpose()?,
    ];
    modify(state, "users.merge_metadata", id, move |_conn, row| {
        let patches = patches.clone();
        let [public, private, unsafe_] = patches;
        for (param, column, patch) in [
            ("public_metadata", &mut row.public_metadata, public),
            ("private_metadata", &mut row.private_metadata, private),
            ("unsafe_metadata", &mut row.unsafe_metadata, unsafe_),
        ] {
            if let Some(patch) = patch {
                let mut merged = match metadata::parse_metadata(column) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                metadata::merge_metadata(&mut merged, patch);
                metadata::check_metadata_size(param, &merged)?;
                *column = Value::Object(merged).to_string();
            }
        }
        Ok(())
    })
    .await
}

/// `POST /v1/users/{id}/ban` and `/unban`.
pub async fn set_banned(
    state: &AppState,
    id: String,
    banned: bool,
) -> Result<UserObject, ApiError> {
    let user = modify(state, "users.set_banned", id, move |_conn, row| {
        row.banned = banned;
        Ok(())
    })
    .await?;
    if banned && state.settings.modules.is_enabled(Module::Session) {
        crate::modules::session::service::end_user_sessions(state, user.id.clone()).await?;
    }
    Ok(user)
}

/// `POST /v1/users/{id}/lock` (for `security.lockout.duration`) and
/// `/unlock`. An administrator's lock also revokes the user's sessions
/// (lockout after failed attempts does not: that would let anyone who
/// knows an email address sign its owner out).
pub async fn set_locked(
    state: &AppState,
    id: String,
    locked: bool,
) -> Result<UserObject, ApiError> {
    let until = locked.then(|| now_ms() + lockout_ms(state));
    let user = modify(state, "users.set_locked", id, move |conn, row| {
        if !locked {
            super::auth::record_unlock(conn, &row.id)?;
        }
        row.locked_until = until;
        Ok(())
    })
    .await?;
    if locked && state.settings.modules.is_enabled(Module::Session) {
        crate::modules::session::service::end_user_sessions(state, user.id.clone()).await?;
    }
    Ok(user)
}
