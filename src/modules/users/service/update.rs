//! Updating a user (`PATCH /v1/users/{id}`): the patch is validated first,
//! then applied inside one load–change–save transaction.

use super::{ensure_free, modify};
use crate::http::{ApiError, Patch};
use crate::ids::UserId;
use crate::metadata;
use crate::modules::users::model::UserObject;
use crate::modules::users::password::prepare_password;
use crate::modules::users::requests::UpdateUser;
use crate::modules::users::{store, validate};
use crate::state::AppState;
use crate::time::now_ms;

/// `PATCH /v1/users/{id}`.
pub async fn update_user(
    state: &AppState,
    id: UserId,
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
