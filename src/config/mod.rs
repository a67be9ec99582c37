//! Typed settings, loaded in layers with the `config` crate:
//! the compiled-in `config/default.toml`, then an optional file, then
//! `STEWARD__SECTION__KEY` environment variables. Every value is validated
//! once at start-up so a bad setting stops the process with one line that
//! names the key, instead of failing later under load.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::modules::Module;

mod background;
mod validate;

pub use background::{RetentionSettings, SpoolSettings};

/// The defaults, compiled into the binary so `steward` runs with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The built-in role that serves no module and runs the background jobs
/// (see `retention.jobs_in_session_processes`).
pub const WORKER_ROLE: &str = "worker";

/// Environment variable that names a configuration file when `--config` is absent.
pub const CONFIG_FILE_ENV: &str = "STEWARD_CONFIG";

/// Every setting Steward reads. Field names are the configuration keys.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The process role: `all`, a module name, or a name from `roles`.
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

/// Frontend API request rules.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendSettings {
    /// Origins (besides the public URL's) whose browser requests may change state.
    pub allowed_origins: Vec<String>,
}

/// Session and session-token lifetimes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
    pub token_reuse_seconds: u64,
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub inactivity_timeout: Duration,
    pub multi_session: bool,
    #[serde(with = "humantime_serde")]
    pub key_activation_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub key_reload_interval: Duration,
}

/// Sign-in presentation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    /// Overrides the instance's stored "last used" badge setting when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_last_used_badge: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub frontend_addr: SocketAddr,
    pub backend_addr: SocketAddr,
    /// Empty means `http://{frontend_addr}`; use [`Settings::public_url`].
    pub public_url: String,
    pub workers: usize,
    pub max_body_bytes: usize,
}

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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSettings {
    pub environment: Environment,
    #[serde(serialize_with = "serialize_masked_secret")]
    pub secret_key: SecretString,
}

/// Development instances use `_test_` keys, production ones `_live_` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    /// The key infix Clerk uses: `sk_test_…` / `sk_live_…`.
    pub fn key_infix(self) -> &'static str {
        match self {
            Self::Development => "test",
            Self::Production => "live",
        }
    }

    /// Clerk's `environment_type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModulesSettings {
    pub orgs: ModuleToggle,
    pub session: ModuleToggle,
    pub signin: ModuleToggle,
    pub signup: ModuleToggle,
    pub users: ModuleToggle,
}

impl ModulesSettings {
    /// Whether `module` is switched on in this configuration.
    pub fn is_enabled(&self, module: Module) -> bool {
        match module {
            Module::Orgs => self.orgs.enabled,
            Module::Session => self.session.enabled,
            Module::Signin => self.signin.enabled,
            Module::Signup => self.signup.enabled,
            Module::Users => self.users.enabled,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleToggle {
    pub enabled: bool,
}

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
    pub argon2: Argon2Settings,
    pub lockout: LockoutSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
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

/// A setting that cannot be used: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "invalid configuration: {}", self.problem)
        } else {
            write!(f, "invalid configuration: `{}`: {}", self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(key: &str, problem: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Where to read settings from, beyond the compiled-in defaults.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// An explicit file (`--config`); falls back to `$STEWARD_CONFIG`.
    pub file: Option<PathBuf>,
    /// Read `STEWARD__…` environment variables (off in tests for isolation).
    pub environment: bool,
    /// Final `key = value` overrides, applied last (the CLI's `--role`, tests).
    pub overrides: Vec<(String, String)>,
}

impl Settings {
    /// Loads and validates settings from every layer.
    pub fn load(options: &LoadOptions) -> Result<Self, ConfigError> {
        use config::{Config, Environment as EnvSource, File, FileFormat};

        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        let file = options.file.clone().or_else(|| {
            options
                .environment
                .then(|| std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from))
                .flatten()
        });
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "",
                    format!("config file {} does not exist", path.display()),
                ));
            }
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        if options.environment {
            builder = builder.add_source(
                EnvSource::with_prefix("STEWARD")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("database.replica_urls")
                    .try_parsing(true),
            );
        }
        for (key, value) in &options.overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| ConfigError::new(key, e.to_string()))?;
        }
        let merged = builder.build().map_err(from_config_error)?;
        let settings: Settings = merged.try_deserialize().map_err(from_config_error)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The modules this process serves: the role's modules that are enabled.
    pub fn role_modules(&self) -> Result<Vec<Module>, ConfigError> {
        let listed: Vec<Module> = if self.role == "all" {
            Module::ALL.to_vec()
        } else if self.role == WORKER_ROLE {
            Vec::new()
        } else if let Some(module) = Module::from_name(&self.role) {
            vec![module]
        } else if let Some(modules) = self.roles.get(&self.role) {
            modules.clone()
        } else {
            return Err(ConfigError::new(
                "role",
                format!(
                    "unknown role `{}`: use `all`, `worker`, a module name ({}) or a name defined in [roles]",
                    self.role,
                    Module::ALL.map(Module::name).join(", ")
                ),
            ));
        };
        Ok(listed
            .into_iter()
            .filter(|m| self.modules.is_enabled(*m))
            .collect())
    }

    /// Every module switched on in this configuration, whatever the role.
    pub fn enabled_modules(&self) -> Vec<Module> {
        Module::ALL
            .into_iter()
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

/// Turns the `config` crate's errors into one line that names the key.
fn from_config_error(error: config::ConfigError) -> ConfigError {
    use config::ConfigError as E;
    match error {
        E::Type {
            key,
            unexpected,
            expected,
            ..
        } => ConfigError::new(
            key.as_deref().unwrap_or(""),
            format!("expected {expected}, found {unexpected}"),
        ),
        E::At { key, error, .. } => {
            ConfigError::new(key.as_deref().unwrap_or(""), first_line(&error.to_string()))
        }
        E::NotFound(key) => ConfigError::new(&key, "missing"),
        other => ConfigError::new("", first_line(&other.to_string())),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn serialize_masked_secret<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    let value = secret.expose_secret();
    if value.is_empty() {
        s.serialize_str("")
    } else {
        s.serialize_str(&mask_key(value))
    }
}

/// Shows a key's prefix (its kind) and hides the rest: `sk_test_****`.
pub fn mask_key(key: &str) -> String {
    let kind_end = key.match_indices('_').nth(1).map_or(0, |(i, _)| i + 1);
    format!("{}****", &key[..kind_end])
}

/// Serialises a URL with its password masked (database and SMTP URLs).
pub(crate) fn serialize_masked_url<S: Serializer>(raw: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url_password(raw))
}

fn serialize_masked_urls<S: Serializer>(raw: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(raw.iter().map(|u| mask_url_password(u)))
}

/// Replaces the password in a database URL with `****`.
pub fn mask_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            // Setting a password only fails for URLs that cannot carry one.
            if url.set_password(Some("****")).is_ok() {
                url.to_string()
            } else {
                raw.to_owned()
            }
        }
        _ => raw.to_owned(),
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
    fn roles_limit_modules() {
        let settings = load(&[("role", "users")]).expect("valid");
        assert_eq!(settings.role_modules().expect("valid"), vec![Module::Users]);
        let off = load(&[("modules.users.enabled", "false")]).expect("valid");
        assert!(!off.role_modules().expect("valid").contains(&Module::Users));
        let worker = load(&[("role", "worker")]).expect("valid");
        assert!(worker.role_modules().expect("valid").is_empty());
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
        ])
        .expect("valid");
        let text = settings.to_masked_toml().expect("serializes");
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("swordfish"));
        assert!(text.contains("mailer:****@mail.example.com"));
        assert!(!text.contains("0123456789abcdef"));
        assert!(text.contains("sk_test_****"));
        assert!(text.contains("steward:****@db"));
    }
}
