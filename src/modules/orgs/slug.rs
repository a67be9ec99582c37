//! Organization slugs: lowercase letters, digits, `-` and `_`, starting and
//! ending with a letter or digit; generated from the name when not given.

use rand::distr::{Alphanumeric, SampleString};

use super::store;
use crate::db::DbConnection;
use crate::http::ApiError;

/// Longest slug.
const MAX_LEN: usize = 64;

/// Checks a slug given by a caller.
pub fn validate(raw: &str) -> Result<String, ApiError> {
    let slug = raw.trim();
    let valid = (2..=MAX_LEN).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && slug.starts_with(|c: char| c.is_ascii_alphanumeric())
        && slug.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(ApiError::param_format(
            "slug",
            "A slug has 2 to 64 lowercase letters, digits, '-' or '_', and starts and ends with a letter or digit.",
        ));
    }
    Ok(slug.to_owned())
}

/// `Acme Inc.` → `acme-inc`.
pub fn from_name(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug
        .trim_end_matches('-')
        .chars()
        .take(MAX_LEN - 7)
        .collect();
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.len() < 2 {
        "org".to_owned()
    } else {
        slug
    }
}

/// A free slug for `name`: the plain one, or with a random suffix.
pub fn unique_from_name(conn: &mut DbConnection, name: &str) -> Result<String, ApiError> {
    let base = from_name(name);
    if !store::slug_taken(conn, &base, "")? {
        return Ok(base);
    }
    for _ in 0..5 {
        let suffix = Alphanumeric
            .sample_string(&mut rand::rng(), 6)
            .to_lowercase();
        let candidate = format!("{base}-{suffix}");
        if !store::slug_taken(conn, &candidate, "")? {
            return Ok(candidate);
        }
    }
    Err(ApiError::internal("no free slug after five attempts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names_and_validation() {
        assert_eq!(from_name("Acme Inc."), "acme-inc");
        assert_eq!(from_name("  Über  Co "), "ber-co");
        assert_eq!(from_name("!"), "org");
        assert!(validate("acme-inc").is_ok());
        assert!(validate("Acme").is_err());
        assert!(validate("-acme").is_err());
        assert!(validate("a").is_err());
    }
}
