//! The instance: its id and environment, its session-token signing keys and
//! its Backend API secret keys. Created on first start, reused afterwards.

pub mod jwks;
mod secret_key_verifier;
mod service;
mod store;

pub use secret_key_verifier::SecretKeyVerifier;
pub use service::{bootstrap, create_secret_key, publishable_key, Bootstrap, Instance};
