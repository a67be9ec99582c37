//! One-time codes sent by email: six digits, stored only as a digest bound
//! to the attempt they belong to, compared in constant time, with limits on
//! guesses and sends shared by sign-up, sign-in and added email addresses.
//!
//! A guess is judged in two steps: [`check_attempt`] compares it with the
//! code as read, then a conditional UPDATE ([`code_guess_queries`]) counts
//! a wrong guess, or uses up a right one, only if the code read is still
//! the stored one and not void. Concurrent guesses are each decided by the
//! database's row lock on that UPDATE: no more than [`MAX_ATTEMPTS`] wrong
//! guesses are ever counted, and a code is used at most once.

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::http::{ApiError, ErrorCode};

/// Failed guesses allowed per code before it is void.
pub const MAX_ATTEMPTS: i32 = 5;
/// Codes one attempt may send.
pub const MAX_SENDS: i32 = 5;
/// Minimum time between two sends, in milliseconds.
pub const RESEND_INTERVAL_MS: i64 = 30_000;
/// How long a code is valid, in milliseconds.
pub const TTL_MS: i64 = crate::notify::CODE_TTL_MINUTES as i64 * 60_000;

/// A fresh six-digit code.
pub fn generate() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// The stored form of `code` for attempt `owner_id`.
pub fn digest(owner_id: &str, code: &str) -> String {
    super::sha256_hex(format!("{owner_id}:{code}").as_bytes())
}

/// Whether `code` matches the stored digest.
pub fn matches(owner_id: &str, code: &str, stored: &str) -> bool {
    digest(owner_id, code.trim())
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

/// Only `email_code` is a code strategy here; says what is wrong otherwise.
pub fn require_email_code(strategy: Option<&str>) -> Result<(), ApiError> {
    match strategy {
        Some("email_code") => Ok(()),
        None | Some("") => Err(ApiError::param_missing("strategy")),
        Some(_) => Err(ApiError::param_value(
            "strategy",
            "Only the email_code strategy is supported.",
        )),
    }
}

/// Refuses a send beyond [`MAX_SENDS`] or sooner than [`RESEND_INTERVAL_MS`]
/// after the last one (429, with `Retry-After`).
pub fn check_can_send(sends: i32, last_sent_at: Option<i64>, now: i64) -> Result<(), ApiError> {
    if sends >= MAX_SENDS {
        return Err(ApiError::new(
            ErrorCode::VerificationFailed,
            "Too many codes sent",
            "Too many verification codes were sent for this attempt. Start again.",
        ));
    }
    if let Some(last) = last_sent_at {
        let wait_ms = last + RESEND_INTERVAL_MS - now;
        if wait_ms > 0 {
            return Err(ApiError::new(
                ErrorCode::VerificationFailed,
                "Too many requests",
                "A code was sent moments ago. Wait before asking for another.",
            )
            .with_retry_after(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1)));
        }
    }
    Ok(())
}

/// Checks `attempt` against the stored code. `Ok(true)`: it matches;
/// `Ok(false)`: a wrong guess the caller must count (then answer with
/// [`incorrect`]); `Err`: no guess is possible (no code, expired, used up).
pub fn check_attempt(
    owner_id: &str,
    attempt: &str,
    digest: Option<&str>,
    expire_at: Option<i64>,
    attempts: i32,
    now: i64,
) -> Result<bool, ApiError> {
    let (Some(stored), Some(expire_at)) = (digest, expire_at) else {
        return Err(ApiError::new(
            ErrorCode::VerificationExpired,
            "No code to verify",
            "Ask for a verification code first.",
        ));
    };
    if now >= expire_at {
        return Err(ApiError::new(
            ErrorCode::VerificationExpired,
            "This code has expired.",
            "This verification code has expired. Ask for a new one.",
        ));
    }
    if attempts >= MAX_ATTEMPTS {
        return Err(too_many_attempts());
    }
    Ok(attempt.len() <= 32 && matches(owner_id, attempt, stored))
}

/// The error for a wrong guess, given the count the conditional update
/// made of it: `None` when it did not count, because concurrent guesses
/// used up the attempts (or the code) first.
pub fn wrong_guess(counted: Option<i32>) -> ApiError {
    counted.map_or_else(too_many_attempts, incorrect)
}

/// The error for a right guess at a code that a concurrent request used or
/// voided between reading it and using it.
pub fn code_spent() -> ApiError {
    ApiError::new(
        ErrorCode::VerificationExpired,
        "This code is no longer valid.",
        "This verification code was used or voided meanwhile. Ask for a new one.",
    )
}

/// The error for a wrong guess, given the attempts counted so far.
fn incorrect(attempts: i32) -> ApiError {
    if attempts >= MAX_ATTEMPTS {
        too_many_attempts()
    } else {
        ApiError::new(
            ErrorCode::FormCodeIncorrect,
            "Incorrect code",
            "The code is incorrect.",
        )
        .with_param("code")
    }
}

fn too_many_attempts() -> ApiError {
    ApiError::new(
        ErrorCode::VerificationFailed,
        "Too many failed attempts",
        "Too many incorrect codes. Ask for a new code.",
    )
}

/// Defines, in a store module, the two conditional updates that decide a
/// guess at the code stored in `$table` (a table with `code_digest` and
/// `code_attempts` columns, found by its primary key):
///
/// - `count_wrong_code(conn, id, digest) -> QueryResult<Option<i32>>`
///   counts a wrong guess at the code `digest` and returns the new count,
///   or `None` when it did not count (the code was used, voided or
///   replaced meanwhile);
/// - `use_code(conn, id, digest) -> QueryResult<bool>` clears the code
///   `digest` for a right guess; `false` when a concurrent request used or
///   voided it first.
///
/// Both test the condition in the UPDATE itself. PostgreSQL re-evaluates it
/// on the newest row version after waiting for a concurrent writer's row
/// lock, so concurrent guesses are decided one after the other.
macro_rules! code_guess_queries {
    ($table:ident) => {
        /// See [`crate::crypto::otp::code_guess_queries`].
        pub fn count_wrong_code(
            conn: &mut $crate::db::DbConnection,
            id: &str,
            digest: &str,
        ) -> diesel::QueryResult<Option<i32>> {
            use diesel::prelude::*;
            let guessable = $table::table
                .find(id)
                .filter($table::code_digest.eq(digest))
                .filter($table::code_attempts.lt($crate::crypto::otp::MAX_ATTEMPTS));
            // On the concrete connection: `RETURNING` through the
            // multi-backend connection does not compile.
            $crate::db::on_backend!(conn, backend => diesel::update(guessable)
                .set($table::code_attempts.eq($table::code_attempts + 1))
                .returning($table::code_attempts)
                .get_result(backend)
                .optional())
        }

        /// See [`crate::crypto::otp::code_guess_queries`].
        pub fn use_code(
            conn: &mut $crate::db::DbConnection,
            id: &str,
            digest: &str,
        ) -> diesel::QueryResult<bool> {
            use diesel::prelude::*;
            let guessable = $table::table
                .find(id)
                .filter($table::code_digest.eq(digest))
                .filter($table::code_attempts.lt($crate::crypto::otp::MAX_ATTEMPTS));
            diesel::update(guessable)
                .set($table::code_digest.eq(None::<String>))
                .execute(conn)
                .map(|updated| updated == 1)
        }
    };
}
pub(crate) use code_guess_queries;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_bound_to_their_owner() {
        let code = generate();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let stored = digest("sua_1", &code);
        assert!(matches("sua_1", &code, &stored));
        assert!(!matches("sua_2", &code, &stored));
        assert!(!matches("sua_1", "000000x", &stored));
    }
}
