//! Database URLs: the scheme chooses the backend.

use std::path::PathBuf;

/// A parsed `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A `postgres://` or `postgresql://` URL, passed to libpq unchanged.
    Postgres(String),
    /// The file behind a `sqlite://path` URL (`sqlite:///abs` for absolute paths).
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses a URL, or says in one line what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
            return Ok(Self::Postgres(raw.to_owned()));
        }
        if let Some(rest) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(
                    "a SQLite URL needs a file path (in-memory databases are not shared between connections)"
                        .to_owned(),
                );
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err("unsupported scheme: use sqlite://PATH or postgres://…".to_owned())
    }

    /// The backend's name, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/steward.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("data/steward.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db")))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@localhost/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
