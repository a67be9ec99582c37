//! The instance's secrets at rest: which key seals them, sealing the
//! plaintext rows earlier versions stored, and re-sealing everything under
//! a new key (`steward keys rewrap`).
//!
//! Two kinds of secret are sealed, each bound to its row: a signing key's
//! PKCS#8 DER (`signing_keys.private_key_pkcs8`, by `kid`) and the 32-byte
//! client-token HMAC key (`instances.client_token_key`, by instance id).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretSlice};

use super::store::{self, InstanceRow, SigningKeyRow};
use crate::config::Settings;
use crate::crypto::sealed::{is_sealed, EncryptionKey, OpenError};
use crate::db::{write_transaction, DbConnection, DbPool};

/// The key this configuration seals with: `instance.encryption_key`, the
/// file named by `instance.encryption_key_file`, or, for a `sqlite://`
/// development instance with neither, the public development key.
/// Configuration validation has already refused the other cases.
pub fn configured_key(settings: &Settings) -> anyhow::Result<EncryptionKey> {
    let instance = &settings.instance;
    let inline = instance.encryption_key.expose_secret();
    if !inline.is_empty() {
        return EncryptionKey::from_base64(inline)
            .map_err(|problem| anyhow::anyhow!("instance.encryption_key {problem}"));
    }
    if !instance.encryption_key_file.is_empty() {
        return key_from_file(
            &instance.encryption_key_file,
            "instance.encryption_key_file",
        );
    }
    if settings.may_use_development_encryption_key() {
        tracing::warn!(
            "instance.encryption_key is not set: secrets at rest are sealed with the public development key"
        );
        return Ok(EncryptionKey::development());
    }
    anyhow::bail!("instance.encryption_key is required for this instance")
}

/// Reads a key from a file; `setting` names where the path came from.
pub fn key_from_file(path: &str, setting: &str) -> anyhow::Result<EncryptionKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{setting}: cannot read {path}: {e}"))?;
    EncryptionKey::from_base64(&text)
        .map_err(|problem| anyhow::anyhow!("{setting}: the key in {path} {problem}"))
}

fn signing_key_context(kid: &str) -> String {
    format!("signing_keys.private_key_pkcs8:{kid}")
}

fn client_key_context(instance_id: &str) -> String {
    format!("instances.client_token_key:{instance_id}")
}

/// A signing key's PKCS#8 DER, sealed for its row.
pub(super) fn seal_signing_key(
    key: &EncryptionKey,
    kid: &str,
    der: &[u8],
) -> anyhow::Result<String> {
    key.seal(der, &signing_key_context(kid))
}

/// A client-token key, sealed for its instance.
pub(super) fn seal_client_token_key(
    key: &EncryptionKey,
    instance_id: &str,
    secret: &[u8],
) -> anyhow::Result<String> {
    key.seal(secret, &client_key_context(instance_id))
}

/// Opens a signing key's PKCS#8 DER, with an error that says what to do.
pub(super) fn open_signing_key(
    key: &EncryptionKey,
    row: &SigningKeyRow,
) -> anyhow::Result<SecretSlice<u8>> {
    key.open(&row.private_key_pkcs8, &signing_key_context(&row.kid))
        .map_err(|error| unreadable(&format!("signing key {}", row.kid), &error))
}

/// Opens the instance's client-token key.
pub(super) fn open_client_token_key(
    key: &EncryptionKey,
    row: &InstanceRow,
) -> anyhow::Result<SecretSlice<u8>> {
    let stored = row
        .client_token_key
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the instance has no client-token key"))?;
    key.open(stored, &client_key_context(&row.id))
        .map_err(|error| unreadable("the client-token key", &error))
}

fn unreadable(what: &str, error: &OpenError) -> anyhow::Error {
    let advice = match error {
        OpenError::OtherKey { .. } => {
            "start with the instance.encryption_key it was sealed with (after `steward keys rewrap`, the new one)"
        }
        OpenError::Plaintext => {
            "start a process against the primary database once, which seals plaintext secrets"
        }
        OpenError::Damaged => "restore it from a backup taken with the same encryption key",
    };
    anyhow::anyhow!("{what} cannot be read: {error}; {advice}")
}

/// What a plaintext or sealed value holds, opened with `old` (a plaintext
/// value is the base64 text earlier versions stored).
fn open_any(
    old: &EncryptionKey,
    stored: &str,
    open: impl Fn(&EncryptionKey) -> anyhow::Result<SecretSlice<u8>>,
) -> anyhow::Result<SecretSlice<u8>> {
    if is_sealed(stored) {
        open(old)
    } else {
        let bytes = STANDARD
            .decode(stored)
            .map_err(|_| anyhow::anyhow!("a stored plaintext secret is not base64"))?;
        Ok(SecretSlice::from(bytes))
    }
}

/// How many secrets a pass sealed anew.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub signing_keys: usize,
    pub client_token_keys: usize,
}

/// Seals, under `new`, every stored secret not already sealed under it,
/// opening sealed ones with `old` and reading plaintext ones as they are;
/// in one transaction, with conditional updates, so a concurrent pass or a
/// second run changes nothing twice.
fn reseal(
    conn: &mut DbConnection,
    old: &EncryptionKey,
    new: &EncryptionKey,
) -> anyhow::Result<Resealed> {
    write_transaction(conn, |conn| {
        let mut done = Resealed::default();
        let sealed_under_new = |stored: &str| stored.starts_with(&format!("enc:v1:{}:", new.id()));
        for row in store::all_signing_keys(conn)? {
            if sealed_under_new(&row.private_key_pkcs8) {
                open_signing_key(new, &row)?;
                continue;
            }
            let der = open_any(old, &row.private_key_pkcs8, |key| {
                open_signing_key(key, &row)
            })?;
            let sealed = seal_signing_key(new, &row.kid, der.expose_secret())?;
            if store::replace_signing_key_secret(conn, &row.kid, &row.private_key_pkcs8, &sealed)? {
                done.signing_keys += 1;
            }
        }
        if let Some(row) = store::find_instance(conn)? {
            if let Some(stored) = row.client_token_key.as_deref() {
                if sealed_under_new(stored) {
                    open_client_token_key(new, &row)?;
                } else {
                    let secret = open_any(old, stored, |key| open_client_token_key(key, &row))?;
                    let sealed = seal_client_token_key(new, &row.id, secret.expose_secret())?;
                    if store::replace_client_token_key(conn, &row.id, Some(stored), &sealed)? {
                        done.client_token_keys += 1;
                    }
                }
            }
        }
        Ok(done)
    })
}

/// Seals the plaintext secrets an earlier version stored, on the first
/// start with a key. Without plaintext rows nothing is written.
pub(super) fn seal_plaintext_rows(
    conn: &mut DbConnection,
    key: &EncryptionKey,
) -> anyhow::Result<Resealed> {
    let plaintext_left = store::all_signing_keys(conn)?
        .iter()
        .any(|row| !is_sealed(&row.private_key_pkcs8))
        || store::find_instance(conn)?
            .and_then(|row| row.client_token_key)
            .is_some_and(|stored| !is_sealed(&stored));
    if !plaintext_left {
        return Ok(Resealed::default());
    }
    // With `key` as both keys, sealed values are only checked: one sealed
    // under another key fails here, as it would at start-up.
    reseal(conn, key, key)
}

/// `steward keys rewrap`: re-seals every stored secret under `new`. Values
/// sealed under `old` (the configured key) or still in plaintext are
/// re-sealed; values already under `new` are checked and left, so a second
/// run is harmless. Blocking: for the CLI.
pub fn rewrap(pool: &DbPool, old: &EncryptionKey, new: &EncryptionKey) -> anyhow::Result<Resealed> {
    let mut conn = pool.get_blocking()?;
    reseal(&mut conn, old, new)
}
