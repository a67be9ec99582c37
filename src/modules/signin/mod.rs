//! The sign-in module: Frontend API sign-in attempts
//! (`/v1/client/sign_ins`). Owns the `sign_ins` table; completed sign-ins
//! become sessions through the session service.

pub mod frontend;
mod model;
pub mod service;
mod store;
