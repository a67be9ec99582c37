//! Enterprise SSO over SAML 2.0: connections to companies' identity
//! providers (`/v1/saml_connections`), the service-provider side of each
//! (metadata and the assertion consumer service), and the
//! `enterprise_sso` / `saml` sign-in strategies.
//!
//! A sign-in with one of those strategies is started here (the sign-in
//! area hands it over through [`crate::modules::external_sign_in`]): the
//! email's domain picks the connection, and the browser goes to the IdP
//! with an AuthnRequest. The IdP's answer comes back to the ACS, is checked
//! in full ([`acs`]), and the sign-in is finished through the sign-in
//! service with the user the users service found, linked or created.
//! Signatures are verified with samael (xmlsec).

pub mod acs;
pub mod authn_request;
pub mod backend;
pub mod certificates;
pub mod connections;
pub mod frontend;
pub mod idp_metadata;
pub mod model;
pub mod requests;
pub mod response;
pub mod schema;
pub mod settings;
pub mod sp_key;
pub mod sp_metadata;
mod store;

use crate::config::Settings;
use crate::db::DbPool;
use crate::modules::Module;
use crate::state::AppState;

use self::settings::SamlSettings;

/// The SAML area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "saml",
    postgres: diesel_migrations::embed_migrations!("src/modules/saml/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/saml/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: Module::Saml,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    webhooks: None,
    background: &[],
    jobs: &[|state| Box::pin(requests::prune(state))],
    // Users are found, linked or created and organizations joined through
    // their services; the sign-in the IdP answers is finished through the
    // sign-in service.
    calls: &[Module::Orgs, Module::Signin, Module::Users],
    pushes: &[],
    sign_in: Some(&requests::ENTERPRISE_SSO),
    // The SP key is sealed under the instance encryption key.
    reseal: Some(sp_key::reseal),
    init: Some(init),
    migrations: &MIGRATIONS,
};

/// What the SAML area keeps per process.
#[derive(Debug)]
pub struct SamlState {
    pub settings: SamlSettings,
    /// The instance's SP key and certificate, read (or made) on first use.
    pub sp: sp_key::SpKeyCell,
    /// Fetches IdP metadata from `idp_metadata_url`.
    pub http: reqwest::Client,
}

impl SamlState {
    /// The SAML state of `state`. The area's routes run only where it is
    /// enabled, which is where its state is built.
    pub fn of(state: &AppState) -> Result<&SamlState, crate::http::ApiError> {
        state
            .area::<SamlState>(Module::Saml)
            .ok_or_else(|| crate::http::ApiError::internal("the saml area is not enabled"))
    }
}

fn init(settings: &Settings) -> anyhow::Result<super::AreaState> {
    let own: SamlSettings = settings
        .modules
        .area(Module::Saml)
        .map_err(anyhow::Error::msg)?;
    own.validate().map_err(anyhow::Error::msg)?;
    // reqwest is built without a TLS provider of its own and panics when
    // the process has no default one: install aws-lc-rs, which the other
    // TLS clients use (an error only means one is installed already).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(
            own.metadata_fetch_timeout_seconds,
        ))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()?;
    Ok(Box::new(SamlState {
        settings: own,
        sp: sp_key::SpKeyCell::new(settings)?,
        http,
    }))
}

/// The database that holds the SAML area's tables.
pub(crate) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Saml).clone()
}
