//! The users module: Backend API user management (`/v1/users`).
//!
//! Owns the `users` and `email_addresses` tables.

mod account;
mod auth;
pub mod backend;
pub mod frontend;
pub mod jobs;
mod list;
mod model;
mod password;
mod push;
mod requests;
pub mod service;
mod store;
mod validate;

/// The users area's registry entry. Deleting or banning a user ends their
/// sessions and memberships through those areas' services.
pub const AREA: super::Area = super::Area {
    id: super::Module::Users,
    frontend: Some(frontend::configure),
    backend: Some(backend::configure),
    background: &[],
    jobs: &[|state| Box::pin(jobs::trim_old_checks(state))],
    calls: &[super::Module::Orgs, super::Module::Session],
};
