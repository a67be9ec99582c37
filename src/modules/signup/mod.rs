//! The sign-up module: Frontend API sign-up attempts
//! (`/v1/client/sign_ups`) with email-code verification. Owns the
//! `sign_ups` table; a completed sign-up creates the user through the users
//! service and a session through the session service.

pub mod frontend;
mod model;
pub mod service;
mod store;
