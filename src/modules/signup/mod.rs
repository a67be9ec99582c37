//! The sign-up module: Frontend API sign-up attempts
//! (`/v1/client/sign_ups`) with email-code verification. Owns the
//! `sign_ups` table; a completed sign-up creates the user through the users
//! service and a session through the session service.

mod external;
pub mod frontend;
mod model;
pub mod service;
mod store;
mod transfer;

/// The sign-up area's registry entry (no Backend API). A completed sign-up
/// creates the user, joins an invited organization and opens a session.
/// The signup area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "signup",
    postgres: diesel_migrations::embed_migrations!("src/modules/signup/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/signup/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: super::Module::Signup,
    frontend: Some(frontend::configure),
    backend: None,
    webhooks: None,
    background: &[],
    jobs: &[],
    calls: &[
        super::Module::Orgs,
        super::Module::Session,
        // Takes a transferable SSO sign-in's identity; carries a sign-up
        // started with a social or enterprise strategy.
        super::Module::Signin,
        super::Module::Users,
    ],
    pushes: &[],
    sign_in: None,
    reseal: None,
    init: None,
    migrations: &MIGRATIONS,
};
