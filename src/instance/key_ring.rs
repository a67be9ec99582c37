//! The signing keys a process holds: which one signs now, and which are
//! published in the JWKS.
//!
//! Rotation is safe across processes: `steward keys rotate` adds a key that
//! activates `session.key_activation_delay` later, and every process reloads
//! its keys every `session.key_reload_interval`, so all of them publish the
//! new key before any of them signs with it. The replaced key stays
//! published until the tokens it signed have expired.

use std::sync::{Arc, RwLock};

use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{json, Value};

use super::encryption::open_signing_key;
use super::store::SigningKeyRow;
use crate::crypto::jwt::Rs256Signer;
use crate::crypto::sealed::EncryptionKey;

/// One parsed key and its schedule.
#[derive(Debug)]
struct RingKey {
    signer: Rs256Signer,
    activates_at: i64,
    retired_at: Option<i64>,
    publish_until: Option<i64>,
}

/// The process's signing keys, swapped whole on reload.
#[derive(Debug)]
pub struct KeyRing {
    keys: RwLock<Arc<Vec<RingKey>>>,
    token_lifetime_ms: i64,
}

/// Opens and parses stored keys; the sealed DER is dropped (and zeroed)
/// once parsed.
fn parse(rows: Vec<SigningKeyRow>, sealing: &EncryptionKey) -> anyhow::Result<Vec<RingKey>> {
    let mut keys = rows
        .into_iter()
        .map(|row| {
            let der = open_signing_key(sealing, &row)?;
            Ok(RingKey {
                signer: Rs256Signer::new(row.kid, der.expose_secret())?,
                activates_at: row.activates_at,
                retired_at: row.retired_at,
                publish_until: row.publish_until,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    keys.sort_by_key(|k| std::cmp::Reverse(k.activates_at));
    Ok(keys)
}

impl KeyRing {
    /// A ring from stored keys sealed under `sealing`; `token_lifetime_ms`
    /// is how long a retired key stays published.
    pub fn new(
        rows: Vec<SigningKeyRow>,
        sealing: &EncryptionKey,
        token_lifetime_ms: i64,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            keys: RwLock::new(Arc::new(parse(rows, sealing)?)),
            token_lifetime_ms,
        })
    }

    /// Swaps in freshly loaded keys.
    pub fn replace(&self, rows: Vec<SigningKeyRow>, sealing: &EncryptionKey) -> anyhow::Result<()> {
        let keys = Arc::new(parse(rows, sealing)?);
        if let Ok(mut current) = self.keys.write() {
            *current = keys;
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<RingKey>> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_default()
    }

    /// Signs `claims` with the newest key active at `now`; returns the
    /// token and the key id.
    pub fn sign<T: Serialize>(&self, claims: &T, now: i64) -> anyhow::Result<(String, String)> {
        let keys = self.snapshot();
        let key = keys
            .iter()
            .find(|k| k.activates_at <= now)
            .ok_or_else(|| anyhow::anyhow!("no signing key is active"))?;
        Ok((key.signer.sign(claims)?, key.signer.kid().to_owned()))
    }

    /// The JWKS document at `now`: upcoming and active keys, and retired
    /// keys whose tokens may still be valid.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .snapshot()
            .iter()
            .filter(|k| {
                k.retired_at.is_none_or(|at| now < at + self.token_lifetime_ms)
                    || k.publish_until.is_some_and(|until| now < until)
            })
            .map(|k| {
                let (n, e) = k.signer.public_components();
                json!({ "use": "sig", "kty": "RSA", "kid": k.signer.kid(), "alg": "RS256", "n": n, "e": e })
            })
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kid: &str, activates_at: i64, retired_at: Option<i64>) -> SigningKeyRow {
        let der = crate::crypto::signing_keys::generate_rsa_pkcs8().expect("generates");
        SigningKeyRow {
            kid: kid.into(),
            instance_id: "ins_x".into(),
            algorithm: "RS256".into(),
            private_key_pkcs8: super::super::encryption::seal_signing_key(
                &EncryptionKey::development(),
                kid,
                &der,
            )
            .expect("seals"),
            created_at: 0,
            retired_at,
            activates_at,
            publish_until: None,
        }
    }

    fn kids(ring: &KeyRing, now: i64) -> Vec<String> {
        ring.jwks(now)["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    #[test]
    fn rotation_publishes_first_signs_later_and_retires_after_the_token_lifetime() {
        // Old key retired when the new one activates at t = 1000.
        let ring = KeyRing::new(
            vec![row("old", 0, Some(1000)), row("new", 1000, None)],
            &EncryptionKey::development(),
            60_000,
        )
        .expect("parses");
        assert_eq!(
            kids(&ring, 500),
            ["new", "old"],
            "the new key is published early"
        );
        assert_eq!(ring.sign(&json!({}), 500).expect("signs").1, "old");
        assert_eq!(ring.sign(&json!({}), 1000).expect("signs").1, "new");
        assert_eq!(
            kids(&ring, 60_999),
            ["new", "old"],
            "old tokens still verify"
        );
        assert_eq!(kids(&ring, 61_000), ["new"]);
    }
}
