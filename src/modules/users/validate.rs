//! Field rules for user input. Each check names the parameter it rejects.

use serde_json::Value;

use crate::config::{AuthSettings, DigestCostLimits, PasswordSettings};
use crate::crypto::password::Hasher;
use crate::http::{ApiError, ErrorCode, Patch};

/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 320;
/// Email addresses one request may give.
pub const MAX_EMAILS_PER_USER: usize = 10;
/// Longest first or last name, external id.
pub const MAX_NAME_LEN: usize = 256;
/// Longest BCP 47 locale tag accepted.
pub const MAX_LOCALE_LEN: usize = 35;
/// Longest password accepted even with `skip_password_checks`.
pub const MAX_PASSWORD_BYTES_ABSOLUTE: usize = 4096;

/// Trims and lower-cases an email address and checks its syntax.
pub fn normalize_email(param: &str, raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::param_missing(param));
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(ApiError::param_too_long(param, MAX_EMAIL_LEN));
    }
    if !email_address::EmailAddress::is_valid(&email) {
        return Err(ApiError::param_format(
            param,
            format!("{param} must be a valid email address."),
        ));
    }
    Ok(email)
}

/// Normalises a list of email addresses, dropping repeats.
pub fn normalize_emails(raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > MAX_EMAILS_PER_USER {
        return Err(ApiError::param_value(
            "email_address",
            format!("A user can have at most {MAX_EMAILS_PER_USER} email addresses."),
        ));
    }
    let mut emails: Vec<String> = Vec::with_capacity(raw.len());
    for address in raw {
        let email = normalize_email("email_address", address)?;
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(emails)
}

/// Lower-cases a username and checks its length and characters.
pub fn normalize_username(raw: &str, auth: &AuthSettings) -> Result<String, ApiError> {
    if !auth.username_enabled {
        return Err(ApiError::param_value(
            "username",
            "Usernames are not enabled on this instance.",
        ));
    }
    let username = raw.trim().to_lowercase();
    let length = username.chars().count();
    if length < auth.username_min_length || length > auth.username_max_length {
        return Err(ApiError::new(
            ErrorCode::FormUsernameInvalidLength,
            "Username length is invalid.",
            format!(
                "Username must be between {} and {} characters long.",
                auth.username_min_length, auth.username_max_length
            ),
        )
        .with_param("username"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !username.chars().all(allowed) || !username.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::new(
            ErrorCode::FormUsernameInvalidCharacter,
            "Username contains invalid characters.",
            "Username can only contain letters, numbers, '_', '-' and '.', and must start with a letter or number.",
        )
        .with_param("username"));
    }
    Ok(username)
}

/// Trims free text (names, external ids); empty becomes `None`.
pub fn text_field(param: &str, raw: &str, max: usize) -> Result<Option<String>, ApiError> {
    let value = raw.trim();
    if value.chars().count() > max {
        return Err(ApiError::param_too_long(param, max));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::param_format(
            param,
            format!("{param} must not contain control characters."),
        ));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// Checks a BCP 47-shaped locale tag such as `en-US`.
pub fn locale(raw: &str) -> Result<Option<String>, ApiError> {
    let value = raw.trim();
    if value.len() > MAX_LOCALE_LEN {
        return Err(ApiError::param_too_long("locale", MAX_LOCALE_LEN));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::param_format(
            "locale",
            "locale must be a language tag such as en-US.",
        ));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// Applies the password policy; `skip_checks` keeps only the absolute limits.
pub fn password(raw: &str, policy: &PasswordSettings, skip_checks: bool) -> Result<(), ApiError> {
    if raw.is_empty() {
        return Err(ApiError::param_missing("password"));
    }
    if raw.len() > MAX_PASSWORD_BYTES_ABSOLUTE {
        return Err(too_long_password(MAX_PASSWORD_BYTES_ABSOLUTE));
    }
    if skip_checks {
        return Ok(());
    }
    if raw.chars().count() < policy.min_length {
        return Err(ApiError::new(
            ErrorCode::FormPasswordLengthTooShort,
            "Passwords must be longer.",
            format!(
                "Passwords must be {} characters or more.",
                policy.min_length
            ),
        )
        .with_param("password"));
    }
    if raw.len() > policy.max_length {
        return Err(too_long_password(policy.max_length));
    }
    Ok(())
}

fn too_long_password(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::FormPasswordLengthTooLong,
        "Passwords must be shorter.",
        format!("Passwords must be at most {max} bytes long."),
    )
    .with_param("password")
}

/// Validates an imported digest, its algorithm and its cost: a digest
/// above `limits` would make every check of it a denial of service.
pub fn imported_digest(
    digest: &str,
    hasher: Option<&str>,
    limits: &DigestCostLimits,
) -> Result<Hasher, ApiError> {
    let Some(name) = hasher else {
        return Err(ApiError::param_missing("password_hasher"));
    };
    let hasher = Hasher::from_name(name).ok_or_else(|| {
        ApiError::param_value(
            "password_hasher",
            format!(
                "password_hasher must be one of: {}.",
                Hasher::NAMES.join(", ")
            ),
        )
    })?;
    if digest.len() > 1024 {
        return Err(ApiError::param_too_long("password_digest", 1024));
    }
    hasher
        .check_digest(digest)
        .map_err(|problem| ApiError::param_format("password_digest", problem))?;
    hasher.check_cost(digest, limits).map_err(|problem| {
        ApiError::param_value(
            "password_digest",
            format!("password_digest's cost is too high: {problem}."),
        )
    })?;
    Ok(hasher)
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub fn rfc3339_ms(param: &str, raw: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::param_format(
                param,
                format!("{param} must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z."),
            )
        })
}

/// [`rfc3339_ms`] for an optional parameter.
pub fn optional_rfc3339_ms(param: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|t| rfc3339_ms(param, t)).transpose()
}

/// Refuses parameters of Clerk's API that this server does not support yet,
/// so they are never silently dropped.
pub fn refuse_unsupported(param: &str, value: &Option<Value>) -> Result<(), ApiError> {
    let given = match value {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::String(text)) => !text.is_empty(),
        Some(_) => true,
    };
    if given {
        return Err(ApiError::new(
            ErrorCode::FormParamUnknown,
            format!("{param} is not supported."),
            format!("{param} is not supported by this server yet."),
        )
        .with_param(param));
    }
    Ok(())
}

/// [`text_field`] for an optional input.
pub fn optional_text(
    param: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value.map_or(Ok(None), |v| text_field(param, &v, max))
}

/// Checks `create_organizations_limit` (0–100 000).
pub fn organizations_limit(limit: i32) -> Result<i32, ApiError> {
    if (0..=100_000).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::param_value(
            "create_organizations_limit",
            "create_organizations_limit must be between 0 and 100000.",
        ))
    }
}

/// [`text_field`] for a PATCH field; an empty string clears it.
pub fn text_patch(param: &str, patch: Patch<String>) -> Result<Patch<String>, ApiError> {
    Ok(match patch {
        Patch::Value(v) => text_field(param, &v, MAX_NAME_LEN)?.map_or(Patch::Null, Patch::Value),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> AuthSettings {
        AuthSettings {
            email_address_required: true,
            username_enabled: true,
            username_required: false,
            username_min_length: 4,
            username_max_length: 64,
            password: PasswordSettings {
                required: true,
                min_length: 8,
                max_length: 72,
            },
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("email_address", "  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        assert!(normalize_email("email_address", "not-an-email").is_err());
        assert_eq!(
            normalize_emails(&["a@x.io".into(), "A@x.io".into()]).expect("valid"),
            ["a@x.io"]
        );
    }

    #[test]
    fn usernames_follow_the_rules() {
        assert_eq!(
            normalize_username("Ada_L", &auth()).expect("valid"),
            "ada_l"
        );
        let short = normalize_username("ab", &auth()).expect_err("short");
        assert_eq!(short.code(), ErrorCode::FormUsernameInvalidLength);
        let bad = normalize_username("ada lovelace", &auth()).expect_err("space");
        assert_eq!(bad.code(), ErrorCode::FormUsernameInvalidCharacter);
    }

    #[test]
    fn password_policy() {
        let policy = auth().password;
        assert!(password("long enough", &policy, false).is_ok());
        assert_eq!(
            password("short", &policy, false).expect_err("short").code(),
            ErrorCode::FormPasswordLengthTooShort
        );
        assert_eq!(
            password(&"x".repeat(73), &policy, false)
                .expect_err("long")
                .code(),
            ErrorCode::FormPasswordLengthTooLong
        );
        assert!(password("short", &policy, true).is_ok());
    }
}
