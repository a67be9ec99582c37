//! The `steward` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, Application, Prepared};
use crate::config::{LoadOptions, Settings};
use crate::{instance, telemetry};

/// Exit code for a configuration that cannot be used.
pub const EXIT_CONFIG: u8 = 2;

/// Environment variable holding the new key for `steward keys rewrap`, when
/// `--new-key-file` is not given. Keys never go on the command line, where
/// other users can read them in the process list and shells keep them.
pub const NEW_ENCRYPTION_KEY_ENV: &str = "STEWARD_NEW_ENCRYPTION_KEY";

/// Steward: a self-hosted identity platform that speaks Clerk's HTTP API.
#[derive(Debug, Parser)]
#[command(name = "steward", version, about)]
pub struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults.
    /// Defaults to $STEWARD_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Frontend and Backend APIs.
    Serve {
        /// The process role: `all`, `frontend`, `backend`, `worker`, a module
        /// name, or a role from [roles].
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
    },
    /// Run pending migrations on every configured database, then exit.
    Migrate,
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage instance keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings, secrets masked.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a Backend API secret key. It is printed once; only its digest is stored.
    CreateSecret,
    /// Rotate the session-token signing key. The new key is published at once
    /// and signs after session.key_activation_delay; the old one stays
    /// published until its tokens have expired.
    Rotate,
    /// Re-encrypt every stored secret (signing keys, the client-token key)
    /// under a new encryption key. The current key comes from the
    /// configuration (instance.encryption_key or instance.encryption_key_file);
    /// the new one from --new-key-file or $STEWARD_NEW_ENCRYPTION_KEY. Then
    /// configure the new key and restart every process.
    Rewrap {
        /// A file holding the new key (32 bytes in base64).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let role = match &cli.command {
        Command::Serve { role } => role.clone(),
        _ => None,
    };
    if let Command::Version = cli.command {
        println!("steward {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let options = LoadOptions {
        file: cli.config.clone(),
        environment: true,
        overrides: role.map(|r| ("role".to_owned(), r)).into_iter().collect(),
    };
    let settings = match Settings::load(&options) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("steward: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init_logging(&settings.log);
    let outcome = match cli.command {
        Command::Serve { .. } => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Config {
            command: ConfigCommand::Check,
        } => check_config(&settings),
        Command::Keys {
            command: KeysCommand::CreateSecret,
        } => create_secret(settings),
        Command::Keys {
            command: KeysCommand::Rotate,
        } => rotate_key(settings),
        Command::Keys {
            command: KeysCommand::Rewrap { new_key_file },
        } => rewrap(&settings, new_key_file),
        Command::Version => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("steward: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init_metrics();
    let prepared = app::prepare(settings)?;
    actix_web::rt::System::new().block_on(async move {
        let application = Application::start(&prepared)?;
        actix_web::rt::spawn(app::keep_reloading(prepared.state.clone()));
        print_banner(&prepared, &application);
        application.run().await?;
        Ok(())
    })
}

fn print_banner(prepared: &Prepared, application: &Application) {
    let state = &prepared.state;
    let settings = &state.settings;
    let backend = format!("http://{}", application.backend_addr());
    println!("Steward {} is serving", env!("CARGO_PKG_VERSION"));
    println!("  role:            {}", settings.role);
    let names = |modules: &[crate::modules::Module]| {
        modules
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  modules:         frontend: {}; backend: {}",
        names(&prepared.scope.frontend),
        names(&prepared.scope.backend)
    );
    println!(
        "  database:        {}",
        crate::config::mask_url_password(&settings.database.url)
    );
    println!("  instance:        {}", state.instance.id);
    println!("  Frontend API:    http://{}", application.frontend_addr());
    println!("  Backend API:     {backend}");
    println!("  publishable key: {}", state.instance.publishable_key);
    match &prepared.created_secret_key {
        Some(key) => {
            println!("  secret key:      {key}");
            println!("                   (shown once: only its digest is stored)");
            println!("  try: curl -H \"Authorization: Bearer {key}\" {backend}/v1/users");
        }
        None => {
            println!("  secret key:      created on the first run and not shown again;");
            println!("                   `steward keys create-secret` makes another");
        }
    }
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = app::connect_databases(settings)?;
    let applied = db.migrate()?;
    println!("{applied} migration(s) applied");
    Ok(())
}

fn check_config(settings: &Settings) -> anyhow::Result<()> {
    // The enabled areas' own settings ([modules.<area>] keys) are read and
    // checked by their `init`, as `serve` does at start-up.
    crate::modules::AreaStates::init(settings)?;
    println!("# configuration is valid; effective settings (secrets masked):");
    print!("{}", settings.to_masked_toml()?);
    Ok(())
}

fn create_secret(settings: Settings) -> anyhow::Result<()> {
    let prepared = app::prepare(settings)?;
    let key = instance::create_secret_key(prepared.state.db.primary(), &prepared.state.instance)?;
    println!("{key}");
    eprintln!("steward: store this key now; only its digest is kept");
    Ok(())
}

fn rotate_key(settings: Settings) -> anyhow::Result<()> {
    let prepared = app::prepare(settings)?;
    let state = &prepared.state;
    let (kid, activates_at) =
        instance::rotate_signing_key(state.db.primary(), &state.settings, &state.instance)?;
    let when = chrono::DateTime::from_timestamp_millis(activates_at)
        .map_or_else(|| activates_at.to_string(), |t| t.to_rfc3339());
    println!("{kid}");
    eprintln!("steward: new signing key {kid} is published now and signs from {when}");
    Ok(())
}

fn rewrap(settings: &Settings, new_key_file: Option<PathBuf>) -> anyhow::Result<()> {
    use crate::crypto::sealed::EncryptionKey;
    let from_env = std::env::var(NEW_ENCRYPTION_KEY_ENV).ok();
    let new = match (new_key_file, from_env) {
        (Some(_), Some(_)) => anyhow::bail!(
            "give the new key with --new-key-file or ${NEW_ENCRYPTION_KEY_ENV}, not both"
        ),
        (Some(path), None) => {
            instance::encryption::key_from_file(&path.to_string_lossy(), "--new-key-file")?
        }
        (None, Some(text)) => EncryptionKey::from_base64(&text)
            .map_err(|problem| anyhow::anyhow!("${NEW_ENCRYPTION_KEY_ENV} {problem}"))?,
        (None, None) => anyhow::bail!(
            "the new key is missing: set ${NEW_ENCRYPTION_KEY_ENV} or give --new-key-file (32 random bytes in base64, `openssl rand -base64 32`)"
        ),
    };
    let old = instance::encryption::configured_key(settings)?;
    if old.id() == new.id() {
        anyhow::bail!("the new key is the key already configured");
    }
    let db = app::connect_databases(settings)?;
    let done = instance::encryption::rewrap(db.primary(), &old, &new)?;
    let mut area_secrets = 0;
    for area in crate::modules::REGISTRY {
        if let Some(reseal) = area.reseal {
            let mut conn = db.for_module(area.id).get_blocking()?;
            area_secrets += reseal(&mut conn, &old, &new)?;
        }
    }
    println!("{}", new.id());
    eprintln!(
        "steward: re-encrypted {} signing key(s), {} client-token key(s) and {} other secret(s) of the areas under key {}; configure it as instance.encryption_key and restart every process",
        done.signing_keys,
        done.client_token_keys,
        area_secrets,
        new.id()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_serve_with_role_and_config() {
        let cli =
            Cli::try_parse_from(["steward", "serve", "--role", "users", "--config", "x.toml"])
                .expect("parses");
        assert!(matches!(cli.command, Command::Serve { role: Some(ref r) } if r == "users"));
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
        assert!(Cli::try_parse_from(["steward", "keys", "create-secret"]).is_ok());
        assert!(Cli::try_parse_from(["steward", "keys", "rotate"]).is_ok());
        assert!(Cli::try_parse_from(["steward", "keys", "rewrap"]).is_ok());
        assert!(Cli::try_parse_from(["steward", "keys", "rewrap", "--new-key-file", "k"]).is_ok());
        assert!(
            Cli::try_parse_from(["steward", "keys", "rewrap", "--new-key", "k"]).is_err(),
            "no way to put a key on the command line"
        );
        assert!(Cli::try_parse_from(["steward", "config", "check"]).is_ok());
        assert!(Cli::try_parse_from(["steward", "bogus"]).is_err());
    }
}
