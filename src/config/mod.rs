//! Typed settings, loaded in layers with the `config` crate:
//! the compiled-in `config/default.toml`, then an optional file, then
//! `STEWARD__SECTION__KEY` environment variables. Every value is validated
//! once at start-up so a bad setting stops the process with one line that
//! names the key, instead of failing later under load.
//!
//! This file holds the top-level [`Settings`] with its helpers (process
//! role, public URL, masked TOML), the start-up constants and the small
//! `[log]` section. Each group of sections has its own file (`server.rs`,
//! `database.rs`, `session.rs`, `instance.rs`, `module_toggles.rs`,
//! `auth.rs`, `background.rs`), as do loading (`load.rs`), validation
//! (`validate.rs`), errors (`error.rs`) and secret masking (`mask.rs`), so
//! no one file has to be read whole; everything public is re-exported here,
//! so callers keep using `crate::config::X`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::modules::id::Module;

mod auth;
mod background;
mod database;
mod error;
mod instance;
mod load;
mod mask;
mod module_toggles;
mod roles;
mod server;
mod session;
mod validate;

pub use auth::{
    Argon2Settings, AuthSettings, DigestCostLimits, LockoutSettings, PasswordSettings,
    SecuritySettings,
};
pub use background::{RetentionSettings, SpoolSettings};
pub use database::{DatabaseSettings, ModuleDatabase, Pooler};
pub use error::ConfigError;
pub use instance::{Environment, InstanceSettings};
pub use load::LoadOptions;
pub(crate) use mask::serialize_masked_url;
pub use mask::{mask_key, mask_url_password};
pub use module_toggles::{ModuleToggle, ModulesSettings};
pub use roles::{RoleScope, BACKEND_ROLE, FRONTEND_ROLE, WORKER_ROLE};
pub use server::{FrontendSettings, ServerSettings};
pub use session::{SessionSettings, SignInSettings};

/// The defaults, compiled into the binary so `steward` runs with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Environment variable that names a configuration file when `--config` is absent.
pub const CONFIG_FILE_ENV: &str = "STEWARD_CONFIG";

/// Every setting Steward reads. Field names are the configuration keys.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The process role: `all`, a built-in role (`frontend`, `backend`,
    /// `worker`), a module name, or a name from `roles`.
    pub role: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub instance: InstanceSettings,
    pub modules: ModulesSettings,
    /// Named roles: each is the list of modules a process in that role serves.
    pub roles: BTreeMap<String, Vec<Module>>,
    pub auth: AuthSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
    /// Outgoing email: the SMTP server, sender and product name.
    pub email: crate::notify::EmailSettings,
    pub frontend: FrontendSettings,
    pub session: SessionSettings,
    pub sign_in: SignInSettings,
    pub spool: SpoolSettings,
    pub retention: RetentionSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// Every module switched on in this configuration, whatever the role.
    pub fn enabled_modules(&self) -> Vec<Module> {
        Module::ALL
            .iter()
            .copied()
            .filter(|m| self.modules.is_enabled(*m))
            .collect()
    }

    /// The Frontend API's public URL without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{}", self.server.frontend_addr)
        } else {
            self.server.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The effective settings as TOML with every secret masked.
    pub fn to_masked_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(&LoadOptions {
            file: None,
            environment: false,
            overrides: overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    #[test]
    fn defaults_load_and_validate() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.role, "all");
        assert_eq!(settings.server.frontend_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.server.backend_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(settings.database.url, "sqlite://data/steward.db");
        assert!(settings.database.migrate_on_start);
        assert_eq!(settings.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn default_toml_round_trips_through_settings() {
        // Every key in default.toml must be a Settings field (deny_unknown_fields
        // proves that direction) and every Settings field must be in default.toml.
        let settings = load(&[]).expect("defaults are valid");
        let rendered: toml::Value =
            toml::from_str(&settings.to_masked_toml().expect("serializes")).expect("parses");
        let defaults: toml::Value = toml::from_str(DEFAULT_TOML).expect("parses");
        fn keys(value: &toml::Value, prefix: &str, out: &mut Vec<String>) {
            if let toml::Value::Table(table) = value {
                for (k, v) in table {
                    let path = format!("{prefix}{k}");
                    out.push(path.clone());
                    keys(v, &format!("{path}."), out);
                }
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys(&rendered, "", &mut a);
        keys(&defaults, "", &mut b);
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("server.frontend_addr", "not-an-address"),
            ("database.pool_size", "0"),
            ("database.url", "mysql://x"),
            ("database.pooler", "session"),
            ("instance.secret_key", "sk_live_short"),
            ("role", "nonexistent"),
            ("log.format", "xml"),
            ("log.level", "loud=="),
            ("auth.password.min_length", "0"),
            ("security.lockout.duration", "soon"),
            ("email.from", "not a mailbox"),
            ("email.from", ""),
            ("email.smtp_url", "ftp://mail.example.com"),
            ("email.smtp_url", "smtp://mail.example.com?tls=sometimes"),
            ("email.smtp_url", "not a url"),
            ("email.application_name", ""),
            ("database.retry_budget", "forever"),
            ("spool.path", ""),
            ("spool.replay_interval", "0s"),
            ("retention.compaction_interval", "0s"),
            ("retention.trim_interval", "0s"),
            ("retention.credential_checks", "1m"),
            ("retention.session_activity", "10m"),
            ("security.password_hash_threads", "many"),
            ("security.password_hash_queue", "-1"),
            ("security.digest_cost_limits.bcrypt_max_cost", "40"),
            ("instance.encryption_key", "c2hvcnQ="),
            ("instance.encryption_key", "not base64!"),
        ];
        for (key, value) in cases {
            let err = load(&[(key, value)]).expect_err(key);
            assert!(
                err.to_string().contains(key),
                "error for {key} should name it: {err}"
            );
        }
    }

    #[test]
    fn the_development_encryption_key_is_for_sqlite_development_instances_only() {
        let key = "c3Rld2FyZC10ZXN0LWVuY3J5cHRpb24ta2V5LTAwMzI=";
        assert!(load(&[])
            .expect("valid")
            .may_use_development_encryption_key());
        for without_key in [
            vec![("database.url", "postgres://db/steward")],
            vec![
                ("instance.environment", "production"),
                ("instance.secret_key", "sk_live_0123456789abcdefghijklmnop"),
            ],
        ] {
            let err = load(&without_key).expect_err("a key is required");
            assert_eq!(err.key, "instance.encryption_key");
            let mut with_key = without_key.clone();
            with_key.push(("instance.encryption_key", key));
            load(&with_key).expect("valid with a key");
            let mut with_file = without_key.clone();
            with_file.push(("instance.encryption_key_file", "/run/secrets/steward.key"));
            load(&with_file).expect("valid with a key file");
        }
        let err = load(&[
            ("instance.encryption_key", key),
            ("instance.encryption_key_file", "/run/secrets/steward.key"),
        ])
        .expect_err("not both");
        assert_eq!(err.key, "instance.encryption_key");
    }

    #[test]
    fn log_transport_is_refused_over_https() {
        let err = load(&[("server.public_url", "https://id.example.com")])
            .expect_err("codes must not go to the log in production");
        assert_eq!(err.key, "email.smtp_url");
        load(&[
            ("server.public_url", "https://id.example.com"),
            ("email.smtp_url", "smtp://mail.example.com:587?tls=required"),
        ])
        .expect("an SMTP server makes https valid");
        load(&[("server.public_url", "http://localhost:3000")]).expect("log transport over http");
    }

    #[test]
    fn secrets_are_masked() {
        let settings = load(&[
            (
                "instance.secret_key",
                "sk_test_0123456789abcdefghijklmnopqrstuv",
            ),
            ("database.url", "postgres://steward:hunter2@db:5432/steward"),
            (
                "email.smtp_url",
                "smtps://mailer:swordfish@mail.example.com:465",
            ),
            (
                "instance.encryption_key",
                "c3Rld2FyZC10ZXN0LWVuY3J5cHRpb24ta2V5LTAwMzI=",
            ),
        ])
        .expect("valid");
        let text = settings.to_masked_toml().expect("serializes");
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("swordfish"));
        assert!(text.contains("mailer:****@mail.example.com"));
        assert!(!text.contains("0123456789abcdef"));
        assert!(text.contains("sk_test_****"));
        assert!(text.contains("steward:****@db"));
        assert!(!text.contains("c3Rld2FyZC10ZXN0"));
        assert!(text.contains("encryption_key = \"****\""));
    }
}
