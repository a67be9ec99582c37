//! Backend API secret keys: `sk_test_…` / `sk_live_…`.
//!
//! A key is 40 random base62 characters after its prefix (about 238 bits), so
//! a plain SHA-256 digest is a safe way to store it: nobody can brute-force
//! it, and a digest lookup needs no per-key salt. Only the digest and a short
//! hint are stored; the key itself is shown once, when it is created.

use rand::distr::{Alphanumeric, SampleString};
use subtle::ConstantTimeEq;

use crate::config::Environment;

const SECRET_LEN: usize = 40;

/// A new secret key for the environment.
pub fn generate(environment: Environment) -> String {
    let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
    format!("sk_{}_{secret}", environment.key_infix())
}

/// The stored form of a key: hex SHA-256.
pub fn digest(key: &str) -> String {
    super::sha256_hex(key.as_bytes())
}

/// What an operator sees to recognise a key: its kind and first characters.
pub fn hint(key: &str) -> String {
    let visible = key.char_indices().nth(12).map_or(key.len(), |(i, _)| i);
    format!("{}…", &key[..visible])
}

/// Compares two digests without leaking where they differ.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_prefix_and_stable_digest() {
        let key = generate(Environment::Development);
        assert!(key.starts_with("sk_test_"));
        assert_eq!(key.len(), "sk_test_".len() + SECRET_LEN);
        assert_eq!(digest(&key), digest(&key));
        assert_ne!(digest(&key), digest(&generate(Environment::Development)));
        assert!(generate(Environment::Production).starts_with("sk_live_"));
        assert!(hint(&key).starts_with("sk_test_"));
        assert!(!hint(&key).contains(&key[12..]));
        assert!(digests_match(&digest(&key), &digest(&key)));
    }
}
