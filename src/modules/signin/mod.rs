//! The sign-in module: Frontend API sign-in attempts
//! (`/v1/client/sign_ins`) and Backend API sign-in tokens
//! (`/v1/sign_in_tokens`, the `ticket` strategy). Owns the `sign_ins` and
//! `sign_in_tokens` tables; completed sign-ins
//! become sessions through the session service.

pub mod backend;
pub mod frontend;
mod model;
pub mod service;
mod store;
mod tickets;
