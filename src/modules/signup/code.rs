//! One-time email codes: six digits, stored only as a digest bound to the
//! attempt they belong to, compared in constant time.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Failed guesses allowed per code before it is void.
pub const MAX_ATTEMPTS: i32 = 5;
/// Codes one attempt may send.
pub const MAX_SENDS: i32 = 5;
/// Minimum time between two sends, in milliseconds.
pub const RESEND_INTERVAL_MS: i64 = 30_000;
/// How long a code is valid, in milliseconds.
pub const TTL_MS: i64 = crate::notify::CODE_TTL_MINUTES as i64 * 60_000;

/// A fresh six-digit code.
pub fn generate() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// The stored form of `code` for attempt `owner_id`.
pub fn digest(owner_id: &str, code: &str) -> String {
    let hash = Sha256::digest(format!("{owner_id}:{code}").as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `code` matches the stored digest.
pub fn matches(owner_id: &str, code: &str, stored: &str) -> bool {
    digest(owner_id, code.trim())
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_bound_to_their_owner() {
        let code = generate();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let stored = digest("sua_1", &code);
        assert!(matches("sua_1", &code, &stored));
        assert!(!matches("sua_2", &code, &stored));
        assert!(!matches("sua_1", "000000x", &stored));
    }
}
