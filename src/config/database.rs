//! `[database]`: the primary and replica URLs, pool and timeout settings,
//! the pooler mode, and per-module database overrides. URLs serialise with
//! their passwords masked (see `mask.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::mask::{serialize_masked_url, serialize_masked_urls};
use crate::modules::id::Module;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: String,
    #[serde(serialize_with = "serialize_masked_urls")]
    pub replica_urls: Vec<String>,
    pub pool_size: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    pub migrate_on_start: bool,
    pub pooler: Pooler,
    #[serde(with = "humantime_serde")]
    pub sqlite_busy_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub primary_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    /// How long a query that failed on a lost connection is retried.
    #[serde(with = "humantime_serde")]
    pub retry_budget: Duration,
    /// Per-module database overrides.
    pub modules: BTreeMap<Module, ModuleDatabase>,
}

/// A module's own database.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleDatabase {
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: String,
}

/// How Steward reaches PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooler {
    /// Direct connections: prepared statements are cached per connection.
    None,
    /// A transaction-mode pooler (PgBouncer): statement caching is off,
    /// because consecutive transactions may land on different server sessions.
    Transaction,
}
