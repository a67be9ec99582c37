//! Masking of secrets for display: the secret key shows only its kind, the
//! encryption key only that it is set, and
//! URLs (database, SMTP) show `****` for their password. Used when the
//! effective settings are printed (`steward config check`) and in the
//! summary `steward serve` prints at start-up.

use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

pub(super) fn serialize_masked_secret<S: Serializer>(
    secret: &SecretString,
    s: S,
) -> Result<S::Ok, S::Error> {
    let value = secret.expose_secret();
    if value.is_empty() {
        s.serialize_str("")
    } else {
        s.serialize_str(&mask_key(value))
    }
}

/// Shows only whether a secret is set (`****`): for keys with no kind to show.
pub(super) fn serialize_hidden_secret<S: Serializer>(
    secret: &SecretString,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.expose_secret().is_empty() {
        ""
    } else {
        "****"
    })
}

/// Shows a key's prefix (its kind) and hides the rest: `sk_test_****`.
pub fn mask_key(key: &str) -> String {
    let kind_end = key.match_indices('_').nth(1).map_or(0, |(i, _)| i + 1);
    format!("{}****", &key[..kind_end])
}

/// Serialises a URL with its password masked (database and SMTP URLs).
pub(crate) fn serialize_masked_url<S: Serializer>(raw: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url_password(raw))
}

pub(super) fn serialize_masked_urls<S: Serializer>(
    raw: &[String],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(raw.iter().map(|u| mask_url_password(u)))
}

/// Replaces the password in a database URL with `****`.
pub fn mask_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            // Setting a password only fails for URLs that cannot carry one.
            if url.set_password(Some("****")).is_ok() {
                url.to_string()
            } else {
                raw.to_owned()
            }
        }
        _ => raw.to_owned(),
    }
}
