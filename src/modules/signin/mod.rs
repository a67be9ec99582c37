//! The sign-in module: Frontend API sign-in attempts
//! (`/v1/client/sign_ins`) and Backend API sign-in tokens
//! (`/v1/sign_in_tokens`, the `ticket` strategy). Owns the `sign_ins` and
//! `sign_in_tokens` tables; completed sign-ins
//! become sessions through the session service.

pub mod backend;
pub mod external;
pub mod frontend;
mod model;
pub mod service;
mod store;
mod tickets;

/// The sign-in area's registry entry. Completed sign-ins become sessions;
/// users and passwords are checked through the users service.
/// The signin area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "signin",
    postgres: diesel_migrations::embed_migrations!("src/modules/signin/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/signin/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: super::Module::Signin,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    webhooks: None,
    background: &[],
    jobs: &[],
    calls: &[super::Module::Session, super::Module::Users],
    pushes: &[],
    sign_in: None,
    reseal: None,
    init: None,
    migrations: &MIGRATIONS,
};
