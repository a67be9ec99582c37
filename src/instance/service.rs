//! Creating and loading the instance.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::ExposeSecret;

use super::encryption;
use super::key_ring::KeyRing;
use super::store::{self, InstanceRow, SecretKeyRow, SigningKeyRow};
use crate::config::{Environment, Settings};
use crate::crypto::client_tokens::ClientTokens;
use crate::crypto::ids::{new_id, prefix};
use crate::crypto::sealed::EncryptionKey;
use crate::crypto::secret_keys;
use crate::crypto::signing_keys::generate_rsa_pkcs8;
use crate::db::{write_transaction, DbPool};
use crate::time::now_ms;

/// The running instance, as the HTTP layer needs it.
#[derive(Debug)]
pub struct Instance {
    pub id: String,
    pub environment: Environment,
    pub created_at: i64,
    /// `pk_test_…` / `pk_live_…`, derived from the public URL.
    pub publishable_key: String,
    /// The session-token signing keys: which signs, which are published.
    pub keys: KeyRing,
    /// Signs and checks client tokens (the `__client` cookie, native JWTs).
    pub client_tokens: ClientTokens,
    /// The stored "last used" badge setting (config may override it); the
    /// Backend API can change it while the process runs.
    pub show_last_used_badge: AtomicBool,
    /// Seals and opens the stored signing keys (reloads, rotations).
    sealing: EncryptionKey,
}

/// What start-up found or made.
#[derive(Debug)]
pub struct Bootstrap {
    pub instance: Instance,
    /// The development secret key, present only on the run that created the
    /// instance: it is shown once and stored only as a digest.
    pub created_secret_key: Option<String>,
}

/// Loads the instance, creating it (id, RSA-2048 signing key, first secret
/// key) on the first run. Blocking: call at start-up, not from a handler.
///
/// Secrets are sealed under the configured encryption key; plaintext ones
/// left by an earlier version are sealed here, on the first start with a
/// key (not on a replica, which is read-only: there they fail to open until
/// the primary has been started once). A secret sealed under another key
/// stops the start with an error that says so.
pub fn bootstrap(pool: &DbPool, settings: &Settings) -> anyhow::Result<Bootstrap> {
    let environment = settings.instance.environment;
    let sealing = encryption::configured_key(settings)?;
    let mut conn = pool.get_blocking()?;
    let mut created_secret_key = None;
    let row = match store::find_instance(&mut conn)? {
        Some(row) => row,
        None => {
            // Generated outside the transaction: RSA key generation takes a while.
            let pkcs8 = generate_rsa_pkcs8()?;
            let secret_key = secret_keys::generate(environment);
            let id = new_id(prefix::INSTANCE);
            // Clerk uses the instance id as the first key's `kid`.
            let sealed_pkcs8 = encryption::seal_signing_key(&sealing, &id, &pkcs8)?;
            let client_token_key = new_client_token_key(&sealing, &id)?;
            let created = write_transaction(&mut conn, |conn| {
                // Another process may have created it in the meantime.
                if let Some(existing) = store::find_instance(conn)? {
                    return Ok::<_, diesel::result::Error>((existing, false));
                }
                let now = now_ms();
                let instance = InstanceRow {
                    id: id.clone(),
                    environment_type: environment.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                    // Instances created by this version show the badge; older
                    // ones got `false` from the migration that added it.
                    show_last_used_badge: true,
                    client_token_key: Some(client_token_key.clone()),
                };
                store::insert_instance(conn, &instance)?;
                store::insert_signing_key(
                    conn,
                    &SigningKeyRow {
                        kid: instance.id.clone(),
                        instance_id: instance.id.clone(),
                        algorithm: "RS256".to_owned(),
                        private_key_pkcs8: sealed_pkcs8.clone(),
                        created_at: now,
                        retired_at: None,
                        activates_at: 0,
                        publish_until: None,
                    },
                )?;
                store::insert_secret_key(conn, &secret_key_row(&instance.id, &secret_key, now))?;
                Ok((instance, true))
            })?;
            if created.1 {
                created_secret_key = Some(secret_key);
            }
            created.0
        }
    };
    let writable = pool.label() != "replica";
    if writable {
        if row.client_token_key.is_none() {
            let key = new_client_token_key(&sealing, &row.id)?;
            store::replace_client_token_key(&mut conn, &row.id, None, &key)?;
        }
        let sealed = encryption::seal_plaintext_rows(&mut conn, &sealing)?;
        if sealed != encryption::Resealed::default() {
            tracing::info!(
                signing_keys = sealed.signing_keys,
                client_token_keys = sealed.client_token_keys,
                "sealed the plaintext secrets of an earlier version under instance.encryption_key"
            );
        }
    }
    let row = store::find_instance(&mut conn)?
        .ok_or_else(|| anyhow::anyhow!("the instance disappeared during start-up"))?;
    if row.environment_type != environment.as_str() {
        anyhow::bail!(
            "the database holds a {} instance but instance.environment is {}",
            row.environment_type,
            environment.as_str()
        );
    }
    let token_lifetime_ms = token_lifetime_ms(settings);
    let now = now_ms();
    let rows = store::signing_keys_in_use(&mut conn, now - token_lifetime_ms, now)?;
    if !rows.iter().any(|key| key.activates_at <= now) {
        anyhow::bail!("the instance has no active signing key");
    }
    let keys = KeyRing::new(rows, &sealing, token_lifetime_ms)?;
    let client_key = encryption::open_client_token_key(&sealing, &row)?;
    Ok(Bootstrap {
        instance: Instance {
            id: row.id,
            environment,
            created_at: row.created_at,
            publishable_key: publishable_key(environment, &settings.public_url()),
            keys,
            client_tokens: ClientTokens::new(client_key.expose_secret()),
            show_last_used_badge: AtomicBool::new(row.show_last_used_badge),
            sealing,
        },
        created_secret_key,
    })
}

fn token_lifetime_ms(settings: &Settings) -> i64 {
    i64::try_from(settings.session.token_lifetime.as_millis()).unwrap_or(60_000)
}

/// Re-reads the signing keys (and the stored instance settings) so a
/// rotation or a setting changed by another process takes effect here.
pub fn reload(pool: &DbPool, settings: &Settings, instance: &Instance) -> anyhow::Result<()> {
    let mut conn = pool.get_blocking()?;
    let now = now_ms();
    let rows = store::signing_keys_in_use(&mut conn, now - token_lifetime_ms(settings), now)?;
    instance.keys.replace(rows, &instance.sealing)?;
    if let Some(row) = store::find_instance(&mut conn)? {
        instance
            .show_last_used_badge
            .store(row.show_last_used_badge, Ordering::Relaxed);
    }
    Ok(())
}

/// `steward keys rotate`: adds a new RSA-2048 key that starts signing after
/// `session.key_activation_delay` (every process publishes it by then) and
/// retires the current key at that moment. Returns the new key id and when
/// it activates (Unix ms).
pub fn rotate_signing_key(
    pool: &DbPool,
    settings: &Settings,
    instance: &Instance,
) -> anyhow::Result<(String, i64)> {
    let pkcs8 = generate_rsa_pkcs8()?;
    let now = now_ms();
    let delay = i64::try_from(settings.session.key_activation_delay.as_millis()).unwrap_or(0);
    let activates_at = now + delay;
    let kid = new_id(prefix::INSTANCE);
    let row = SigningKeyRow {
        private_key_pkcs8: encryption::seal_signing_key(&instance.sealing, &kid, &pkcs8)?,
        kid,
        instance_id: instance.id.clone(),
        algorithm: "RS256".to_owned(),
        created_at: now,
        retired_at: None,
        activates_at,
        publish_until: None,
    };
    let kid = row.kid.clone();
    let mut conn = pool.get_blocking()?;
    write_transaction(&mut conn, |conn| {
        store::retire_signing_keys(conn, activates_at)?;
        store::insert_signing_key(conn, &row)
    })?;
    Ok((kid, activates_at))
}

/// Keeps key `kid` published until `until` (Unix ms): a token with a
/// longer-than-usual lifetime was just signed with it.
pub fn keep_key_published(pool: &DbPool, kid: &str, until: i64) -> anyhow::Result<()> {
    let mut conn = pool.get_blocking()?;
    store::extend_publication(&mut conn, kid, until)?;
    Ok(())
}

/// Turns the "last used" badge on or off for the instance.
pub fn set_show_last_used_badge(
    pool: &DbPool,
    instance: &Instance,
    show: bool,
) -> anyhow::Result<()> {
    let mut conn = pool.get_blocking()?;
    store::set_show_last_used_badge(&mut conn, &instance.id, show)?;
    instance.show_last_used_badge.store(show, Ordering::Relaxed);
    Ok(())
}

/// 32 random bytes, sealed for instance `id`: the HMAC key for client tokens.
fn new_client_token_key(sealing: &EncryptionKey, id: &str) -> anyhow::Result<String> {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let sealed = encryption::seal_client_token_key(sealing, id, &key);
    key.fill(0);
    sealed
}

fn secret_key_row(instance_id: &str, key: &str, now: i64) -> SecretKeyRow {
    SecretKeyRow {
        id: new_id(prefix::SECRET_KEY),
        instance_id: instance_id.to_owned(),
        key_digest: secret_keys::digest(key),
        key_hint: secret_keys::hint(key),
        created_at: now,
        revoked_at: None,
    }
}

/// Creates another Backend API secret key and returns it; only its digest is
/// stored. Blocking: for the CLI.
pub fn create_secret_key(pool: &DbPool, instance: &Instance) -> anyhow::Result<String> {
    let key = secret_keys::generate(instance.environment);
    let mut conn = pool.get_blocking()?;
    store::insert_secret_key(&mut conn, &secret_key_row(&instance.id, &key, now_ms()))?;
    Ok(key)
}

/// Clerk's publishable key: `pk_<test|live>_` + base64(`<frontend host>$`).
/// Clerk's SDKs decode it to find the Frontend API host.
pub fn publishable_key(environment: Environment, public_url: &str) -> String {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .trim_end_matches('/');
    format!(
        "pk_{}_{}",
        environment.key_infix(),
        STANDARD.encode(format!("{host}$"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishable_key_encodes_the_frontend_host() {
        let key = publishable_key(Environment::Development, "http://127.0.0.1:8080");
        let encoded = key.strip_prefix("pk_test_").expect("prefix");
        let decoded = STANDARD.decode(encoded).expect("base64");
        assert_eq!(decoded, b"127.0.0.1:8080$");
        assert!(
            publishable_key(Environment::Production, "https://auth.example.com")
                .starts_with("pk_live_")
        );
    }
}
