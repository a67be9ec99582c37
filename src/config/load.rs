//! Loading: the layers (compiled-in defaults, an optional file, `STEWARD__`
//! environment variables, explicit overrides) merged with the `config`
//! crate, deserialised into [`Settings`] and validated.

use std::path::PathBuf;

use super::error::from_config_error;
use super::{ConfigError, Settings, CONFIG_FILE_ENV, DEFAULT_TOML};

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
}
