//! Checks Backend API secret keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::store;
use crate::config::Environment;
use crate::crypto::secret_keys;
use crate::db::Database;
use crate::http::ApiError;

/// How long a key found in the database is trusted without asking again.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// Verifies `sk_…` keys against the operator's configured key and the
/// stored digests. Valid digests are cached briefly so an authenticated
/// request does not cost a database read.
#[derive(Debug)]
pub struct SecretKeyVerifier {
    prefix: String,
    configured_digest: Option<String>,
    db: Database,
    verified: Mutex<HashMap<String, Instant>>,
}

impl SecretKeyVerifier {
    pub fn new(environment: Environment, configured: &SecretString, db: Database) -> Self {
        let configured = configured.expose_secret();
        Self {
            prefix: format!("sk_{}_", environment.key_infix()),
            configured_digest: (!configured.is_empty()).then(|| secret_keys::digest(configured)),
            db,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` is a valid secret key of this instance.
    pub async fn is_valid(&self, key: &str) -> Result<bool, ApiError> {
        if !key.starts_with(&self.prefix) || key.len() > 256 {
            return Ok(false);
        }
        let digest = secret_keys::digest(key);
        if let Some(configured) = &self.configured_digest {
            if secret_keys::digests_match(configured, &digest) {
                return Ok(true);
            }
        }
        if self.cached(&digest) {
            return Ok(true);
        }
        let lookup = digest.clone();
        let found = self
            .db
            .read_primary_with_failover("secret_keys.verify", move |conn| {
                store::active_secret_key_exists(conn, &lookup).map_err(ApiError::from)
            })
            .await?;
        if found {
            if let Ok(mut verified) = self.verified.lock() {
                verified.retain(|_, until| *until > Instant::now());
                verified.insert(digest, Instant::now() + CACHE_TTL);
            }
        }
        Ok(found)
    }

    fn cached(&self, digest: &str) -> bool {
        self.verified
            .lock()
            .map(|verified| {
                verified
                    .get(digest)
                    .is_some_and(|until| *until > Instant::now())
            })
            .unwrap_or(false)
    }
}
