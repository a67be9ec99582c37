//! `[instance]`: the instance's environment (development or production), its
//! secret key and the key that encrypts its secrets at rest; both keys
//! serialise masked.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::mask::{serialize_hidden_secret, serialize_masked_secret};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSettings {
    pub environment: Environment,
    #[serde(serialize_with = "serialize_masked_secret")]
    pub secret_key: SecretString,
    /// 32 bytes in base64 that encrypt the signing keys and the client-token
    /// key at rest; empty: read `encryption_key_file`, or (sqlite://
    /// development instances only) use the public development key.
    #[serde(serialize_with = "serialize_hidden_secret")]
    pub encryption_key: SecretString,
    /// A file holding the encryption key instead (read at start-up).
    pub encryption_key_file: String,
}

/// Development instances use `_test_` keys, production ones `_live_` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    /// The key infix Clerk uses: `sk_test_…` / `sk_live_…`.
    pub fn key_infix(self) -> &'static str {
        match self {
            Self::Development => "test",
            Self::Production => "live",
        }
    }

    /// Clerk's `environment_type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }
}
