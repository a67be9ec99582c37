//! Billing: plans with features and free trials, payers with their cards,
//! checkouts, subscriptions, statements and payment attempts, kept in the
//! area's own tables (Clerk keeps them in its database too). Stripe only
//! stores cards and moves money ([`stripe`]); its webhooks come back in.
//! The area pushes each payer's plan and features into the session store,
//! where they become the `pla` and `fea` claims of the next token.

pub mod admin;
pub mod backend;
pub mod charges;
pub mod checkout;
pub mod clock;
pub mod events;
pub mod frontend;
pub mod gateway_errors;
pub mod item_list;
pub mod jobs;
pub mod lifecycle;
pub mod money;
pub mod payers;
pub mod payment_methods;
pub mod plans;
pub mod push;
pub mod schema;
pub mod settings;
pub mod statements;
pub mod stripe;
pub mod subscriptions;
pub mod webhooks;

use std::sync::Arc;

use crate::config::Settings;
use crate::db::DbPool;
use crate::modules::Module;
use crate::state::AppState;

use self::clock::Clock;
use self::settings::BillingSettings;

/// The billing area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "billing",
    postgres: diesel_migrations::embed_migrations!("src/modules/billing/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/billing/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: Module::Billing,
    frontend: Some(frontend::configure),
    backend: Some(backend_api::configure),
    webhooks: Some(webhooks::configure),
    background: &[],
    jobs: &[|state| Box::pin(jobs::lifecycle(state))],
    // The user's primary email address, where trial notices go; users and
    // organizations are checked to exist before their subscription is
    // read.
    calls: &[Module::Orgs, Module::Users],
    // Each payer's plan and features, into the session store.
    pushes: &[super::Push {
        receiver: &crate::modules::session::service::SCOPE_CLAIMS,
        backfill: push::BACKFILL,
    }],
    sign_in: None,
    reseal: None,
    init: Some(init),
    migrations: &MIGRATIONS,
};

/// What the billing area keeps per process.
#[derive(Debug)]
pub struct BillingState {
    pub settings: BillingSettings,
    pub clock: Arc<Clock>,
    /// Stripe, when a secret key is configured.
    pub gateway: Option<stripe::PaymentGateway>,
}

impl BillingState {
    /// The billing state of `state`. Billing's routes and jobs run only
    /// where the area is enabled, which is where its state is built.
    pub fn of(state: &AppState) -> Result<&BillingState, crate::http::ApiError> {
        state
            .area::<BillingState>(Module::Billing)
            .ok_or_else(|| crate::http::ApiError::internal("the billing area is not enabled"))
    }
}

fn init(settings: &Settings) -> anyhow::Result<super::AreaState> {
    let own: BillingSettings = settings
        .modules
        .area(Module::Billing)
        .map_err(anyhow::Error::msg)?;
    own.validate().map_err(anyhow::Error::msg)?;
    let gateway = if own.stripe_secret_key.is_empty() {
        None
    } else {
        let config = stripe::GatewayConfig {
            secret_key: stripe::Secret::new(own.stripe_secret_key.clone()),
            api_base: (!own.stripe_api_base.is_empty()).then(|| own.stripe_api_base.clone()),
            webhook_secret: stripe::Secret::new(own.stripe_webhook_secret.clone()),
        };
        Some(
            stripe::PaymentGateway::new(&config)
                .map_err(|e| anyhow::anyhow!("[modules.billing]: {e}"))?,
        )
    };
    Ok(Box::new(BillingState {
        settings: own,
        clock: Arc::new(Clock::default()),
        gateway,
    }))
}

/// The database that holds billing's tables.
pub(crate) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Billing).clone()
}

mod backend_api {
    /// Mounts billing's Backend API routes inside the authenticated `/v1`.
    pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
        super::plans::backend_routes(cfg);
        super::backend::routes(cfg);
    }
}
