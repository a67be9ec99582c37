//! Clerk-style identifiers: `<prefix>_` + 27 base62 characters.
//!
//! The 27 characters are a millisecond KSUID (a 6-byte millisecond timestamp
//! and 14 random bytes), so ids sort by creation time like Clerk's do.

use svix_ksuid::{KsuidLike, KsuidMs};

/// Id prefixes for every object kind Steward creates.
pub mod prefix {
    pub const INSTANCE: &str = "ins";
    pub const USER: &str = "user";
    pub const IDENTIFICATION: &str = "idn";
    pub const SECRET_KEY: &str = "sk";
    pub const CLIENT: &str = "client";
    pub const SESSION: &str = "sess";
    pub const SIGN_IN: &str = "sia";
    pub const SIGN_UP: &str = "sua";
    /// A row of `session_activity` (a touch).
    pub const SESSION_ACTIVITY: &str = "sact";
    /// A row of `session_events` (an ending).
    pub const SESSION_EVENT: &str = "sevt";
}

/// A new, time-sortable id with the given prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", KsuidMs::now(None))
}

/// Whether `id` looks like an id of this kind; used to answer 404 early.
pub fn has_shape(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| body.len() == 27 && body.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_clerk_shape_and_sort_by_time() {
        let first = new_id(prefix::USER);
        std::thread::sleep(std::time::Duration::from_millis(10));
        let second = new_id(prefix::USER);
        assert!(has_shape(&first, prefix::USER), "{first}");
        assert_eq!(first.len(), "user_".len() + 27);
        assert!(first < second);
        assert!(!has_shape("user_short", prefix::USER));
        assert!(!has_shape(&first, prefix::INSTANCE));
    }
}
