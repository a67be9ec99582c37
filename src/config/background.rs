//! Settings of the session API's background work: the outage spool and the
//! jobs that compact and trim the append-only session tables.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Where session writes wait while their database cannot be reached.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSettings {
    /// A local SQLite file, created on first use. One per process.
    pub path: PathBuf,
    /// How often spooled writes are offered to the database again; also
    /// how often the outbox is delivered (`crate::outbox::dispatch`).
    #[serde(with = "humantime_serde")]
    pub replay_interval: Duration,
}

/// How long append-only rows are kept, and how often the jobs run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Whether processes serving the session module run the jobs; `false`
    /// leaves them to `worker` processes.
    pub jobs_in_session_processes: bool,
    /// How often `sessions.last_active_at` is brought up to date from
    /// `session_activity`.
    #[serde(with = "humantime_serde")]
    pub compaction_interval: Duration,
    /// How often old rows are trimmed.
    #[serde(with = "humantime_serde")]
    pub trim_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub session_activity: Duration,
    #[serde(with = "humantime_serde")]
    pub token_issuances: Duration,
    #[serde(with = "humantime_serde")]
    pub session_events: Duration,
    #[serde(with = "humantime_serde")]
    pub credential_checks: Duration,
}

impl super::Settings {
    pub(super) fn validate_background(&self) -> Result<(), ConfigError> {
        if self.spool.path.as_os_str().is_empty() {
            return Err(ConfigError::new("spool.path", "must name a file"));
        }
        let positive = [
            ("spool.replay_interval", self.spool.replay_interval),
            (
                "retention.compaction_interval",
                self.retention.compaction_interval,
            ),
            ("retention.trim_interval", self.retention.trim_interval),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(ConfigError::new(key, "must be longer than zero"));
            }
        }
        // Lockout counts failed checks within its duration: keep them that long.
        if self.retention.credential_checks < self.security.lockout.duration {
            return Err(ConfigError::new(
                "retention.credential_checks",
                "must be at least security.lockout.duration",
            ));
        }
        // Token issuance records must outlive the tokens they describe.
        let ages = [
            (
                "retention.session_activity",
                self.retention.session_activity,
            ),
            ("retention.token_issuances", self.retention.token_issuances),
            ("retention.session_events", self.retention.session_events),
        ];
        for (key, age) in ages {
            if age < Duration::from_secs(3600) {
                return Err(ConfigError::new(key, "must be at least 1h"));
            }
        }
        Ok(())
    }
}
