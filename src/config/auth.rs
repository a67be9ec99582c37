//! `[auth]` and `[security]`: identifier and password rules for accounts, and
//! how credentials are protected (Argon2 hashing, hashing threads, lockout).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub email_address_required: bool,
    pub username_enabled: bool,
    pub username_required: bool,
    pub username_min_length: usize,
    pub username_max_length: usize,
    pub password: PasswordSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub required: bool,
    pub min_length: usize,
    pub max_length: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Threads that hash passwords, at a lower CPU priority (0: one fewer
    /// than the cores, at least one).
    pub password_hash_threads: usize,
    /// Password checks that may wait for a hashing thread beyond those
    /// running (0: sixteen per hashing thread); more are refused with 503.
    pub password_hash_queue: usize,
    pub argon2: Argon2Settings,
    pub digest_cost_limits: DigestCostLimits,
    pub lockout: LockoutSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// The highest cost of a password digest Steward accepts (imported through
/// the Backend API) or verifies (already stored): one check of a digest
/// above these would hold a hashing thread, or gigabytes of memory, for
/// seconds to days.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DigestCostLimits {
    pub bcrypt_max_cost: u32,
    pub argon2_max_memory_kib: u32,
    pub argon2_max_iterations: u32,
    pub argon2_max_parallelism: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}
