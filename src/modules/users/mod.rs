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
mod requests;
pub mod service;
mod store;
mod validate;
