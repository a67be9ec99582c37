//! The sign-up module: Frontend API sign-up attempts
//! (`/v1/client/sign_ups`) with email-code verification. Owns the
//! `sign_ups` table; a completed sign-up creates the user through the users
//! service and a session through the session service.

pub mod frontend;
mod model;
pub mod service;
mod store;

/// The sign-up area's registry entry (no Backend API). A completed sign-up
/// creates the user, joins an invited organization and opens a session.
pub const AREA: super::Area = super::Area {
    id: super::Module::Signup,
    frontend: Some(frontend::configure),
    backend: None,
    background: &[],
    jobs: &[],
    calls: &[
        super::Module::Orgs,
        super::Module::Session,
        super::Module::Users,
    ],
};
