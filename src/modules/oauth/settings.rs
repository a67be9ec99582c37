//! `[modules.oauth]`: the OAuth area's settings, and the social connections
//! configured in the file (`[modules.oauth.connections.<provider>]`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// A social connection as the configuration file gives it.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    pub client_id: String,
    pub client_secret: String,
    /// Empty: the provider's defaults.
    pub scopes: Vec<String>,
    pub enabled: bool,
    /// The OIDC issuer: required for `custom_<key>`; for a preset, only to
    /// point it at a compatible test server.
    pub issuer: String,
    /// Microsoft's tenant (`common`, `organizations`, `consumers` or an id).
    pub tenant: String,
    /// GitHub's web and API bases, only to point it at a test server.
    pub github_web_url: String,
    pub github_api_url: String,
    /// The button's name and logo (custom providers).
    pub name: String,
    pub logo_url: String,
}

impl std::fmt::Debug for ConnectionSettings {
    // The client secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The OAuth area's own keys of `[modules.oauth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OauthSettings {
    /// Seconds a call to a provider (discovery, token, user API) may take.
    pub http_timeout_seconds: u64,
    /// Seconds a person has to finish at the provider.
    pub state_ttl_seconds: i64,
    /// By provider: `google`, `github`, `microsoft`, `custom_<key>`.
    pub connections: BTreeMap<String, ConnectionSettings>,
}

impl Default for OauthSettings {
    fn default() -> Self {
        Self {
            http_timeout_seconds: 10,
            state_ttl_seconds: 600,
            connections: BTreeMap::new(),
        }
    }
}

impl OauthSettings {
    /// Checks values a typo could make harmful.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=60).contains(&self.http_timeout_seconds) {
            return Err("[modules.oauth] http_timeout_seconds must be between 1 and 60".into());
        }
        if !(60..=3600).contains(&self.state_ttl_seconds) {
            return Err("[modules.oauth] state_ttl_seconds must be between 60 and 3600".into());
        }
        for (key, connection) in &self.connections {
            let strategy = format!("oauth_{key}");
            super::providers::Provider::of(&strategy)
                .ok_or_else(|| format!("[modules.oauth.connections.{key}]: unknown provider (google, github, microsoft or custom_<key>)"))?;
            if connection.enabled
                && (connection.client_id.is_empty() || connection.client_secret.is_empty())
            {
                return Err(format!(
                    "[modules.oauth.connections.{key}] needs client_id and client_secret"
                ));
            }
            if key.starts_with("custom_") && connection.enabled && connection.issuer.is_empty() {
                return Err(format!(
                    "[modules.oauth.connections.{key}] needs the provider's issuer URL"
                ));
            }
        }
        Ok(())
    }
}
