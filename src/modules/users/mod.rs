//! The users module: Backend API user management (`/v1/users`).
//!
//! Owns the `users` and `email_addresses` tables.

mod account;
mod auth;
pub mod backend;
pub mod enterprise;
pub mod frontend;
pub mod jobs;
mod list;
mod model;
mod password;
mod push;
mod requests;
pub mod service;
pub mod social;
mod store;
mod validate;

/// The users area's registry entry. Deleting or banning a user ends their
/// sessions and memberships through those areas' services.
/// The users area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "users",
    postgres: diesel_migrations::embed_migrations!("src/modules/users/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/users/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: super::Module::Users,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    webhooks: None,
    background: &[],
    jobs: &[|state| Box::pin(jobs::trim_old_checks(state))],
    calls: &[super::Module::Orgs, super::Module::Session],
    // Each user as the client object shows them, into the session store.
    pushes: &[super::Push {
        receiver: &crate::modules::session::service::CLIENT_USERS,
        backfill: push::BACKFILL,
    }],
    sign_in: None,
    reseal: None,
    init: None,
    migrations: &MIGRATIONS,
};
