//! Social sign-in over OAuth 2.0 and OpenID Connect: connections to
//! Google, GitHub, Microsoft and any OIDC provider (the configuration file,
//! or Steward's Backend API extension `/v1/oauth_connections`), the
//! `oauth_<provider>` sign-in strategies (handed over by the sign-in area
//! through [`crate::modules::external_sign_in`]), and the callback
//! providers send the browser back to. Protocol work is done by the
//! `openidconnect` and `oauth2` crates.

pub mod backend;
pub mod callback;
pub mod client;
pub mod connections;
pub mod flow;
pub mod frontend;
pub mod providers;
pub mod schema;
pub mod settings;

use crate::config::Settings;
use crate::db::DbPool;
use crate::modules::Module;
use crate::state::AppState;

use self::settings::OauthSettings;

/// The OAuth area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "oauth",
    postgres: diesel_migrations::embed_migrations!("src/modules/oauth/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/oauth/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: Module::Oauth,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    webhooks: None,
    background: &[],
    jobs: &[|state| Box::pin(flow::prune(state))],
    // Users are found, linked or created through the users service; the
    // sign-in the provider answers is finished through the sign-in service.
    calls: &[Module::Signin, Module::Users],
    pushes: &[],
    sign_in: Some(&flow::SOCIAL),
    reseal: None,
    init: Some(init),
    migrations: &MIGRATIONS,
};

/// What the OAuth area keeps per process.
#[derive(Debug)]
pub struct OauthState {
    pub settings: OauthSettings,
    /// Calls providers: bounded in time, redirects never followed (the
    /// openidconnect crate's advice against request forgery).
    pub http: reqwest::Client,
}

impl OauthState {
    /// The OAuth state of `state`; built where the area is enabled.
    pub fn of(state: &AppState) -> Result<&OauthState, crate::http::ApiError> {
        state
            .area::<OauthState>(Module::Oauth)
            .ok_or_else(|| crate::http::ApiError::internal("the oauth area is not enabled"))
    }
}

fn init(settings: &Settings) -> anyhow::Result<super::AreaState> {
    let own: OauthSettings = settings
        .modules
        .area(Module::Oauth)
        .map_err(anyhow::Error::msg)?;
    own.validate().map_err(anyhow::Error::msg)?;
    // reqwest is built without a TLS provider of its own (see the saml area).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(own.http_timeout_seconds))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(Box::new(OauthState {
        settings: own,
        http,
    }))
}

/// The database that holds the OAuth area's tables.
pub(crate) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Oauth).clone()
}
