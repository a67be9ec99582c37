//! Sign-in strategies finished at an outside identity provider
//! (`enterprise_sso` and `saml` today): the contract between the sign-in
//! area, which owns sign-in attempts, and the area that speaks to the
//! provider, which declares itself with [`super::Area::sign_in`]. The
//! sign-in area names no such area; the provider's area finishes the
//! attempt through the sign-in service once the provider has answered.

use futures_util::future::LocalBoxFuture;

use crate::http::ApiError;
use crate::ids::{ClientId, SignInId};
use crate::state::AppState;

/// What the sign-in area asks a provider's area to start.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub sign_in_id: SignInId,
    pub client_id: ClientId,
    /// One of the provider's [`ExternalSignIn::strategies`].
    pub strategy: String,
    /// The identifier given (an email address), lower-cased.
    pub identifier: Option<String>,
    /// A connection chosen by id rather than by the email's domain.
    pub connection_id: Option<String>,
    /// Where the browser goes once the provider has answered; already
    /// checked to be an allowed origin (or a native app's scheme).
    pub redirect_url: String,
    /// A native app (`_is_native`): it completes with a rotating nonce.
    pub native: bool,
}

/// Where to send the browser, and until when that stays valid.
#[derive(Debug, Clone)]
pub struct Started {
    pub redirect_url: String,
    /// Unix milliseconds.
    pub expire_at: i64,
    /// The connection chosen, for `supported_first_factors`.
    pub connection_id: String,
    pub connection_name: String,
}

/// A provider of external sign-in strategies.
pub trait ExternalSignIn: Sync {
    /// Whether it serves `strategy` (on this instance, now).
    fn serves(&self, settings: &crate::config::Settings, strategy: &str) -> bool;

    /// The instance's `user_settings.social` entries it contributes to
    /// `/v1/environment`, by strategy (none for enterprise SSO).
    fn social<'a>(
        &'a self,
        _state: &'a AppState,
    ) -> LocalBoxFuture<'a, Vec<(String, serde_json::Value)>> {
        Box::pin(async { Vec::new() })
    }

    /// Picks the connection and prepares the provider's request.
    fn start<'a>(
        &'a self,
        state: &'a AppState,
        request: StartRequest,
    ) -> LocalBoxFuture<'a, Result<Started, ApiError>>;
}

/// Every enabled provider's social entries, for `/v1/environment`.
pub async fn social(state: &AppState) -> serde_json::Map<String, serde_json::Value> {
    let enabled = state.settings.enabled_modules();
    let mut entries = serde_json::Map::new();
    for provider in super::REGISTRY
        .iter()
        .filter(|area| enabled.contains(&area.id))
        .filter_map(|area| area.sign_in)
    {
        entries.extend(provider.social(state).await);
    }
    entries
}

/// The enabled provider of `strategy`, if any.
pub fn provider(
    settings: &crate::config::Settings,
    strategy: &str,
) -> Option<&'static dyn ExternalSignIn> {
    let enabled = settings.enabled_modules();
    super::REGISTRY
        .iter()
        .filter(|area| enabled.contains(&area.id))
        .filter_map(|area| area.sign_in)
        .find(|provider| provider.serves(settings, strategy))
}
