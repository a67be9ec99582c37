//! [`ConfigError`], the one-line error every bad setting becomes, and the
//! conversion from the `config` crate's errors into it.

use std::fmt;

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

/// Turns the `config` crate's errors into one line that names the key.
pub(super) fn from_config_error(error: config::ConfigError) -> ConfigError {
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
