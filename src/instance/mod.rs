//! The instance: its id and environment, its session-token signing keys and
//! its Backend API secret keys. Created on first start, reused afterwards;
//! the secrets Steward must read back are sealed at rest (`encryption`).

pub mod backend;
pub mod encryption;
pub mod jwks;
mod key_ring;
mod secret_key_verifier;
mod service;
mod store;

pub use secret_key_verifier::SecretKeyVerifier;
pub use service::{
    bootstrap, create_secret_key, keep_key_published, publishable_key, reload, rotate_signing_key,
    set_show_last_used_badge, Bootstrap, Instance,
};
