//! Rules a loaded configuration must satisfy beyond its types: ranges, URL
//! schemes and rules across keys. Each failure names its key.

use secrecy::ExposeSecret;

use super::roles::BUILT_IN_ROLES;
use super::{ConfigError, Settings};
use crate::modules::id::Module;

impl Settings {
    /// Checks what types alone cannot: ranges, URL schemes, cross-key rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_database()?;
        self.validate_instance()?;
        self.validate_role()?;
        self.validate_auth()?;
        self.validate_email()?;
        crate::crypto::password::PasswordHasher::from_settings(
            &self.security.argon2,
            &self.security.digest_cost_limits,
        )
        .map_err(|problem| ConfigError::new("security.argon2", problem))?;
        if !(4..=31).contains(&self.security.digest_cost_limits.bcrypt_max_cost) {
            return Err(ConfigError::new(
                "security.digest_cost_limits.bcrypt_max_cost",
                "must be between 4 and 31 (bcrypt's own range)",
            ));
        }
        self.validate_session()?;
        self.validate_background()?;
        if self.security.lockout.max_attempts == 0 {
            return Err(ConfigError::new(
                "security.lockout.max_attempts",
                "must be at least 1",
            ));
        }
        if self.security.lockout.duration.is_zero() {
            return Err(ConfigError::new(
                "security.lockout.duration",
                "must be longer than zero",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::new("log.level", e.to_string()))?;
        Ok(())
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        if !self.server.public_url.is_empty() {
            let url = url::Url::parse(&self.server.public_url)
                .map_err(|e| ConfigError::new("server.public_url", e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConfigError::new(
                    "server.public_url",
                    "must be an http:// or https:// URL with a host",
                ));
            }
            if url.path() != "/" || url.query().is_some() {
                return Err(ConfigError::new(
                    "server.public_url",
                    "must not have a path or query (the Frontend API is served at its root)",
                ));
            }
        }
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }

    fn validate_session(&self) -> Result<(), ConfigError> {
        let session = &self.session;
        let lifetime = session.token_lifetime.as_secs();
        if !(10..=86_400).contains(&lifetime) {
            return Err(ConfigError::new(
                "session.token_lifetime",
                "must be between 10 seconds and 1 day",
            ));
        }
        if session.token_reuse_seconds * 2 > lifetime {
            return Err(ConfigError::new(
                "session.token_reuse_seconds",
                "must be at most half of session.token_lifetime",
            ));
        }
        if session.lifetime.as_secs() < 60 || session.inactivity_timeout.as_secs() < 60 {
            return Err(ConfigError::new(
                "session.lifetime",
                "session.lifetime and session.inactivity_timeout must be at least a minute",
            ));
        }
        if session.key_reload_interval.as_secs() < 1 {
            return Err(ConfigError::new(
                "session.key_reload_interval",
                "must be at least one second",
            ));
        }
        for origin in &self.frontend.allowed_origins {
            let parsed = url::Url::parse(origin).map_err(|e| {
                ConfigError::new("frontend.allowed_origins", format!("{origin}: {e}"))
            })?;
            if parsed.origin().ascii_serialization() != *origin {
                return Err(ConfigError::new(
                    "frontend.allowed_origins",
                    format!("{origin} is not an origin (scheme://host[:port], no path)"),
                ));
            }
        }
        Ok(())
    }

    fn validate_database(&self) -> Result<(), ConfigError> {
        use crate::db::DatabaseUrl;
        DatabaseUrl::parse(&self.database.url)
            .map_err(|problem| ConfigError::new("database.url", problem))?;
        for url in &self.database.replica_urls {
            match DatabaseUrl::parse(url) {
                Ok(DatabaseUrl::Postgres(_)) => {}
                Ok(DatabaseUrl::Sqlite(_)) => {
                    return Err(ConfigError::new(
                        "database.replica_urls",
                        "replicas must be postgres:// URLs",
                    ))
                }
                Err(problem) => return Err(ConfigError::new("database.replica_urls", problem)),
            }
        }
        for (module, db) in &self.database.modules {
            DatabaseUrl::parse(&db.url).map_err(|problem| {
                ConfigError::new(&format!("database.modules.{}.url", module.name()), problem)
            })?;
        }
        if !(1..=1000).contains(&self.database.pool_size) {
            return Err(ConfigError::new(
                "database.pool_size",
                "must be between 1 and 1000",
            ));
        }
        if self.database.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "database.connect_timeout",
                "must be longer than zero",
            ));
        }
        Ok(())
    }

    fn validate_instance(&self) -> Result<(), ConfigError> {
        self.validate_encryption_key()?;
        let key = self.instance.secret_key.expose_secret();
        if key.is_empty() {
            return Ok(());
        }
        let prefix = format!("sk_{}_", self.instance.environment.key_infix());
        let valid_body = key.strip_prefix(&prefix).is_some_and(|body| {
            body.len() >= 24 && body.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !valid_body {
            return Err(ConfigError::new(
                "instance.secret_key",
                format!(
                    "must be {prefix} followed by at least 24 letters or digits (environment is {})",
                    self.instance.environment.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// The encryption key, when given inline, must be a valid key; one of
    /// the two sources is required except for `sqlite://` development
    /// instances, which may use the public development key. The file is
    /// read at start-up.
    fn validate_encryption_key(&self) -> Result<(), ConfigError> {
        let inline = self.instance.encryption_key.expose_secret();
        let file = &self.instance.encryption_key_file;
        if !inline.is_empty() && !file.is_empty() {
            return Err(ConfigError::new(
                "instance.encryption_key",
                "set instance.encryption_key or instance.encryption_key_file, not both",
            ));
        }
        if !inline.is_empty() {
            crate::crypto::sealed::EncryptionKey::from_base64(inline)
                .map_err(|problem| ConfigError::new("instance.encryption_key", problem))?;
        }
        if inline.is_empty() && file.is_empty() && !self.may_use_development_encryption_key() {
            let which = if self.instance.environment == super::Environment::Production {
                "a production instance"
            } else {
                "a database other than sqlite://"
            };
            return Err(ConfigError::new(
                "instance.encryption_key",
                format!(
                    "is required for {which}: set STEWARD__INSTANCE__ENCRYPTION_KEY or instance.encryption_key_file to 32 random bytes in base64 (`openssl rand -base64 32`); the built-in development key is only for sqlite:// development instances"
                ),
            ));
        }
        Ok(())
    }

    /// Whether the public development encryption key may stand in for an
    /// operator's key: a development instance on a local SQLite file.
    pub fn may_use_development_encryption_key(&self) -> bool {
        self.instance.environment == super::Environment::Development
            && self.database.url.starts_with("sqlite://")
    }

    fn validate_role(&self) -> Result<(), ConfigError> {
        for name in self.roles.keys() {
            if BUILT_IN_ROLES.contains(&name.as_str()) || Module::from_name(name).is_some() {
                return Err(ConfigError::new(
                    &format!("roles.{name}"),
                    format!(
                        "a named role cannot reuse a built-in role ({}) or a module name",
                        BUILT_IN_ROLES.join(", ")
                    ),
                ));
            }
        }
        self.role_scope().map(|_| ())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        if auth.username_required && !auth.username_enabled {
            return Err(ConfigError::new(
                "auth.username_required",
                "cannot be true while auth.username_enabled is false",
            ));
        }
        if auth.username_min_length == 0 || auth.username_min_length > auth.username_max_length {
            return Err(ConfigError::new(
                "auth.username_min_length",
                "must be at least 1 and at most auth.username_max_length",
            ));
        }
        if auth.username_max_length > 256 {
            return Err(ConfigError::new(
                "auth.username_max_length",
                "must be at most 256",
            ));
        }
        let password = &auth.password;
        if password.min_length == 0 || password.min_length > password.max_length {
            return Err(ConfigError::new(
                "auth.password.min_length",
                "must be at least 1 and at most auth.password.max_length",
            ));
        }
        if password.max_length > 4096 {
            return Err(ConfigError::new(
                "auth.password.max_length",
                "must be at most 4096",
            ));
        }
        Ok(())
    }

    fn validate_email(&self) -> Result<(), ConfigError> {
        let email = &self.email;
        email
            .sender()
            .map_err(|problem| ConfigError::new("email.from", problem))?;
        if email.application_name.trim().is_empty() {
            return Err(ConfigError::new(
                "email.application_name",
                "must not be empty (it names the product in every email)",
            ));
        }
        let smtp = email
            .smtp_transport_builder()
            .map_err(|problem| ConfigError::new("email.smtp_url", problem))?;
        if smtp.is_none() && self.public_url().starts_with("https://") {
            return Err(ConfigError::new(
                "email.smtp_url",
                "is required when server.public_url is https:// (without it, verification codes are written to the log, which is for development only)",
            ));
        }
        Ok(())
    }
}
