//! The session module, Steward's always-on core: clients, sessions and
//! session tokens (Frontend API `/v1/client…`, `/v1/environment`; Backend
//! API `/v1/sessions`, `/v1/clients`). Minting a token needs only the
//! session row and the key held in memory.

pub mod backend;
mod claims;
mod client_users;
mod clients;
mod endings;
mod environment;
pub mod frontend;
pub mod jobs;
mod model;
mod refresh;
pub mod scope_claims;
pub mod service;
mod store;
mod token;
mod token_reads;
pub mod writes;

pub use token::TokenMinter;
pub use token_reads::TokenSessionReads;
pub use writes::SessionWrites;

/// The session module's own part of its registry entry: its routes and
/// background work. It calls no other area. The entry in the registry is
/// [`crate::fapi::SESSION_AREA`], which mounts the Frontend and Backend API
/// routes composed from several areas (`/v1/client`, `POST /v1/sessions`)
/// with these.
/// The session area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "session",
    postgres: diesel_migrations::embed_migrations!("src/modules/session/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/session/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: super::Module::Session,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    webhooks: None,
    // The spool replayer and the token issuance writer.
    background: &[
        |state| Box::pin(writes::replay_spool(state)),
        |state| Box::pin(writes::insert_issuance_batches(state)),
    ],
    jobs: &[
        |state| Box::pin(jobs::compact_activity(state)),
        |state| Box::pin(jobs::trim_old_rows(state)),
    ],
    calls: &[],
    pushes: &[],
    sign_in: None,
    reseal: None,
    init: None,
    migrations: &MIGRATIONS,
};
