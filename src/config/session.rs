//! `[session]` and `[sign_in]`: session and session-token lifetimes, signing
//! key rotation timing, and sign-in presentation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Session and session-token lifetimes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
    pub token_reuse_seconds: u64,
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub inactivity_timeout: Duration,
    pub multi_session: bool,
    #[serde(with = "humantime_serde")]
    pub key_activation_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub key_reload_interval: Duration,
}

/// Sign-in presentation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    /// Overrides the instance's stored "last used" badge setting when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_last_used_badge: Option<bool>,
}
