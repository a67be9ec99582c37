//! `[modules.saml]`: the SAML area's settings.

use serde::Deserialize;

/// The SAML area's own keys of `[modules.saml]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamlSettings {
    /// How far the IdP's clock may be off when `NotBefore` and
    /// `NotOnOrAfter` are checked, in seconds.
    pub clock_skew_seconds: i64,
    /// How long an AuthnRequest may wait for its answer, in seconds: the
    /// time a person has to sign in at the IdP.
    pub request_ttl_seconds: i64,
    /// Whether AuthnRequests are signed with the instance's SP key. IdPs
    /// that do not check signatures ignore it.
    pub sign_authn_requests: bool,
    /// Where a browser lands after an IdP-initiated sign-in (an app page
    /// that runs clerk-js). Empty: IdP-initiated sign-in is refused even
    /// on connections that allow it.
    pub idp_initiated_redirect_url: String,
    /// How long fetching an IdP's metadata may take, in seconds.
    pub metadata_fetch_timeout_seconds: u64,
}

impl Default for SamlSettings {
    fn default() -> Self {
        Self {
            clock_skew_seconds: 120,
            request_ttl_seconds: 600,
            sign_authn_requests: true,
            idp_initiated_redirect_url: String::new(),
            metadata_fetch_timeout_seconds: 10,
        }
    }
}

impl SamlSettings {
    /// Checks values a typo could make harmful.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=600).contains(&self.clock_skew_seconds) {
            return Err("[modules.saml] clock_skew_seconds must be between 0 and 600".into());
        }
        if !(30..=3600).contains(&self.request_ttl_seconds) {
            return Err("[modules.saml] request_ttl_seconds must be between 30 and 3600".into());
        }
        if !(1..=60).contains(&self.metadata_fetch_timeout_seconds) {
            return Err(
                "[modules.saml] metadata_fetch_timeout_seconds must be between 1 and 60".into(),
            );
        }
        let target = &self.idp_initiated_redirect_url;
        if !target.is_empty() {
            let parsed = url::Url::parse(target)
                .map_err(|e| format!("[modules.saml] idp_initiated_redirect_url: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(
                    "[modules.saml] idp_initiated_redirect_url must be an http(s) URL".into(),
                );
            }
        }
        Ok(())
    }
}
