//! Creating a user (`POST /v1/users`): every field is validated before the
//! user and their email addresses are written in one transaction.

use super::{ensure_free, identifier_taken, lockout_ms, pool};
use crate::crypto::ids::{new_id, prefix};
use crate::db::write_transaction;
use crate::http::ApiError;
use crate::metadata;
use crate::modules::users::model::{EmailAddressRow, UserObject, UserRow};
use crate::modules::users::password::prepare_password;
use crate::modules::users::push;
use crate::modules::users::requests::CreateUser;
use crate::modules::users::{store, validate};
use crate::state::AppState;
use crate::time::now_ms;

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
    let user = pool(state)
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
                store::insert_user(conn, &row).map_err(identifier_taken)?;
                store::insert_emails(conn, &email_rows).map_err(identifier_taken)?;
                push::user_changed(conn, &row.id)?;
                Ok::<_, ApiError>(UserObject::from_rows(row, email_rows, now))
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(user)
}
