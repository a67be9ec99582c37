//! Identifiers, password hashing, secret keys and signing keys.

pub mod hash_threads;
pub mod ids;
pub mod jwt;
pub mod otp;
pub mod password;
pub mod secret_keys;
pub mod signing_keys;
