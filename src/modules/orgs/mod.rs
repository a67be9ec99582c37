//! The organizations module: organizations, memberships, roles and
//! permissions (Backend API `/v1/organizations…`, `/v1/organization_roles`,
//! `/v1/organization_permissions`, `/v1/instance/organization_settings`;
//! Frontend API `/v1/organizations…`, `/v1/me/organization_memberships`),
//! and the active organization's claims in session tokens.

mod acceptance;
pub mod backend;
mod claims;
pub mod frontend;
pub mod invitations;
mod list;
pub mod memberships;
mod model;
mod push;
mod roles;
pub mod service;
mod slug;
mod store;

/// Organizations' registry entry. Their services call the session area
/// (claims refresh) and the users area (members' user data).
/// The orgs area's tables.
pub const MIGRATIONS: crate::db::migrations::Migrations = crate::db::migrations::Migrations {
    part: "orgs",
    postgres: diesel_migrations::embed_migrations!("src/modules/orgs/migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("src/modules/orgs/migrations/sqlite"),
};

pub const AREA: super::Area = super::Area {
    id: super::Module::Orgs,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    webhooks: None,
    background: &[],
    jobs: &[],
    calls: &[super::Module::Session, super::Module::Users],
    // Each member's organization claims, into the session store.
    pushes: &[super::Push {
        receiver: &crate::modules::session::service::ORGANIZATION_CLAIMS,
        backfill: push::BACKFILL,
    }],
    sign_in: None,
    reseal: None,
    init: None,
    migrations: &MIGRATIONS,
};
