//! Passwords of users: validating and hashing new ones, accepting imported
//! digests, and `verify_password` with re-hashing of weaker digests.

use super::service::{load, modify, pool};
use super::validate;
use crate::crypto::password::Hasher;
use crate::http::{ApiError, ErrorCode};
use crate::ids::UserId;
use crate::state::AppState;

/// A password ready to store.
#[derive(Clone)]
pub(super) struct StoredPassword {
    pub digest: String,
    pub hasher: Hasher,
}

/// Validates and hashes a new password, or validates an imported digest.
pub(super) async fn prepare_password(
    state: &AppState,
    password: Option<String>,
    digest: Option<String>,
    hasher: Option<String>,
    skip_checks: bool,
) -> Result<Option<StoredPassword>, ApiError> {
    match (password, digest) {
        (Some(_), Some(_)) => Err(ApiError::param_value(
            "password_digest",
            "password and password_digest cannot be given together.",
        )),
        (Some(password), None) => {
            validate::password(&password, &state.settings.auth.password, skip_checks)?;
            let digest = hash_off_thread(state, password).await?;
            Ok(Some(StoredPassword {
                digest,
                hasher: Hasher::Argon2id,
            }))
        }
        (None, Some(digest)) => {
            let hasher = validate::imported_digest(
                &digest,
                hasher.as_deref(),
                &state.settings.security.digest_cost_limits,
            )?;
            Ok(Some(StoredPassword { digest, hasher }))
        }
        (None, None) if hasher.is_some() => Err(ApiError::param_missing("password_digest")),
        (None, None) => Ok(None),
    }
}

/// Argon2 takes tens of milliseconds of CPU: keep it off the async workers,
/// on the low-priority hashing threads.
async fn hash_off_thread(state: &AppState, password: String) -> Result<String, ApiError> {
    let hasher = state.passwords.clone();
    state
        .hash_threads
        .run(move || hasher.hash(&password))
        .await?
        .map_err(ApiError::internal)
}

/// `POST /v1/users/{id}/verify_password`. A digest weaker than the current
/// policy (an imported bcrypt hash, an older Argon2 cost) is replaced by a
/// fresh Argon2id digest once the password is proven.
pub async fn verify_password(
    state: &AppState,
    id: UserId,
    password: Option<String>,
) -> Result<(), ApiError> {
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::param_missing("password"))?;
    if password.len() > validate::MAX_PASSWORD_BYTES_ABSOLUTE {
        return Err(incorrect_password());
    }
    let lookup = id.clone();
    let row = pool(state)
        .run("users.get", move |conn| load(conn, lookup.as_str()))
        .await?;
    let (Some(digest), Some(hasher)) = (
        row.password_digest,
        row.password_hasher.as_deref().and_then(Hasher::from_name),
    ) else {
        return Err(ApiError::new(
            ErrorCode::PasswordNotSet,
            "password not set",
            "This user has no password to verify.",
        ));
    };
    let passwords = state.passwords.clone();
    let (verified, rehash) = state
        .hash_threads
        .run(move || {
            let verified = passwords.verify(hasher, &digest, &password);
            let rehash = (verified && passwords.needs_rehash(hasher, &digest))
                .then(|| passwords.hash(&password).ok())
                .flatten();
            (verified, rehash)
        })
        .await?;
    if !verified {
        return Err(incorrect_password());
    }
    if let Some(new_digest) = rehash {
        modify(state, "users.rehash_password", id, move |_conn, row| {
            let new_digest = new_digest.clone();
            row.password_digest = Some(new_digest);
            row.password_hasher = Some(Hasher::Argon2id.name().to_owned());
            Ok(())
        })
        .await?;
    }
    Ok(())
}

fn incorrect_password() -> ApiError {
    ApiError::new(
        ErrorCode::IncorrectPassword,
        "Password is incorrect.",
        "Password is incorrect. Try again, or use another method.",
    )
    .with_param("password")
}
