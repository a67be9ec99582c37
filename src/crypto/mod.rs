//! Identifiers, password hashing, secret keys, signing keys, client tokens
//! and the encryption of secrets at rest.

pub mod client_tokens;
pub mod hash_threads;
pub mod ids;
pub mod jwt;
pub mod otp;
pub mod password;
pub mod sealed;
pub mod secret_keys;
pub mod signing_keys;

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as 64 lower-case hex digits, the stored form of
/// secrets Steward only ever compares. One formatting pass: this runs on
/// every Backend API request, and a `format!` per byte cost more than the
/// hash.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_hex_is_the_lower_case_hex_digest() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
