//! One connection type for both backends, and the r2d2 manager that opens it.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::ManageConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use super::url::DatabaseUrl;
use crate::config::Pooler;

/// A connection to either backend. Queries written against the portable
/// schema run on both; backend-specific SQL matches on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    /// The backend's name, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Pg(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

/// Opens connections for an r2d2 pool. Diesel's derived `establish` on the
/// enum replaces the real error with "Invalid connection url"; this manager
/// picks the backend from the URL and keeps the driver's message.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    pooler: Pooler,
    sqlite_busy_timeout: Duration,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl, pooler: Pooler, sqlite_busy_timeout: Duration) -> Self {
        Self {
            url,
            pooler,
            sqlite_busy_timeout,
        }
    }

    /// Opens one connection, configured for Steward.
    pub fn open(&self) -> Result<DbConnection, diesel::r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?;
                if self.pooler == Pooler::Transaction {
                    // A transaction-mode pooler may run the next statement on
                    // another server session, where a cached statement is unknown.
                    conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
                }
                Ok(DbConnection::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    diesel::r2d2::Error::ConnectionError(ConnectionError::InvalidConnectionUrl(
                        "SQLite path is not valid UTF-8".to_owned(),
                    ))
                })?;
                let mut conn = SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // busy_timeout first: switching to WAL takes a lock that a
                // concurrently opening connection may hold for a moment.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                    self.sqlite_busy_timeout.as_millis()
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection whose transaction could not be committed or rolled
    /// back (typically: the server went away mid-transaction) is dropped
    /// instead of going back to the pool.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::connection::TransactionManager;
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}
