//! The providers Steward knows: three presets and any OpenID Connect
//! provider by its issuer (`oauth_custom_<key>`). Google, Microsoft and the
//! custom ones speak OpenID Connect (discovery, ID tokens); GitHub speaks
//! plain OAuth 2.0 and is read through its user API.

use secrecy::SecretString;

/// How a provider is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
    Github,
    /// Any OpenID Connect provider, found by its issuer's discovery document.
    Custom,
}

impl Provider {
    /// The provider of `strategy` (`oauth_google`, …, `oauth_custom_<key>`
    /// with a key of `[a-z0-9_]`, at most 32 characters).
    pub fn of(strategy: &str) -> Option<Self> {
        match strategy.strip_prefix("oauth_")? {
            "google" => Some(Self::Google),
            "microsoft" => Some(Self::Microsoft),
            "github" => Some(Self::Github),
            other => {
                let key = other.strip_prefix("custom_")?;
                let valid = (1..=32).contains(&key.len())
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                valid.then_some(Self::Custom)
            }
        }
    }

    /// The scopes asked for when a connection names none.
    pub fn default_scopes(self) -> &'static [&'static str] {
        match self {
            Self::Github => &["read:user", "user:email"],
            _ => &["openid", "email", "profile"],
        }
    }

    /// The button's name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Microsoft => "Microsoft",
            Self::Github => "GitHub",
            Self::Custom => "OpenID Connect",
        }
    }

    /// Whether it speaks OpenID Connect.
    pub fn is_oidc(self) -> bool {
        self != Self::Github
    }
}

/// A social connection ready to use: where it comes from resolved, its
/// secret opened.
#[derive(Clone)]
pub struct Connection {
    pub strategy: String,
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    pub enabled: bool,
    /// The OIDC issuer (presets have theirs; custom ones name it).
    pub issuer: String,
    /// Microsoft's tenant.
    pub tenant: String,
    pub github_web_url: String,
    pub github_api_url: String,
    pub name: String,
    pub logo_url: Option<String>,
    /// `config` (the configuration file) or `api` (the Backend API).
    pub source: &'static str,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("strategy", &self.strategy)
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Microsoft's tenants that are not one organization: their discovery
/// document's issuer holds a `{tenantid}` placeholder.
pub fn is_multi_tenant(tenant: &str) -> bool {
    matches!(tenant, "common" | "organizations" | "consumers")
}

impl Connection {
    /// Fills what a connection leaves empty from its provider's presets.
    pub fn with_defaults(mut self) -> Self {
        if self.scopes.is_empty() {
            self.scopes = self
                .provider
                .default_scopes()
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        }
        if self.tenant.is_empty() {
            self.tenant = "common".to_owned();
        }
        if self.issuer.is_empty() {
            self.issuer = match self.provider {
                Provider::Google => "https://accounts.google.com".to_owned(),
                Provider::Microsoft => {
                    format!("https://login.microsoftonline.com/{}/v2.0", self.tenant)
                }
                Provider::Github | Provider::Custom => String::new(),
            };
        }
        if self.github_web_url.is_empty() {
            self.github_web_url = "https://github.com".to_owned();
        }
        if self.github_api_url.is_empty() {
            self.github_api_url = "https://api.github.com".to_owned();
        }
        if self.name.is_empty() {
            self.name = self.provider.display_name().to_owned();
        }
        self
    }

    /// The `user_settings.social` entry clerk-js and the Android SDK read
    /// (`enabled && authenticatable` shows the button).
    pub fn social_entry(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": self.enabled,
            "required": false,
            "authenticatable": true,
            "block_email_subaddresses": false,
            "strategy": self.strategy,
            "not_selectable": false,
            "deprecated": false,
            "name": self.name,
            "logo_url": self.logo_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_name_their_providers() {
        assert_eq!(Provider::of("oauth_google"), Some(Provider::Google));
        assert_eq!(Provider::of("oauth_github"), Some(Provider::Github));
        assert_eq!(Provider::of("oauth_microsoft"), Some(Provider::Microsoft));
        assert_eq!(Provider::of("oauth_custom_acme_id"), Some(Provider::Custom));
        for bad in [
            "google",
            "oauth_",
            "oauth_facebook",
            "oauth_custom_",
            "oauth_custom_Acme",
            "oauth_custom_a-b",
        ] {
            assert_eq!(Provider::of(bad), None, "{bad}");
        }
    }
}
