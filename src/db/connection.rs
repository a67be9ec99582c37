//! One connection type for both backends, and the r2d2 manager that opens it.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::ManageConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use super::url::DatabaseUrl;
use crate::config::Pooler;

/// Creates a SQLite file's directory (mode 0700) and the file itself (mode
/// 0600) where they do not exist yet, before SQLite opens it. SQLite would
/// create the file with the process's umask, usually readable by every
/// local user, and a database holds password digests and signing keys.
/// SQLite gives a database's `-wal` and `-shm` files its mode, so they are
/// private too. Existing files and directories keep the mode they have:
/// the operator may have chosen it.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(error) if error.kind() != ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
}

/// A connection to either backend. Queries written against the portable
/// schema run on both; backend-specific SQL matches on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$conn` bound to the concrete backend connection.
///
/// For statements the multi-backend connection cannot express (batch
/// inserts, upserts), and for hot queries: through `DbConnection` a query
/// has no static query id, so diesel builds its SQL text on every run to
/// find the cached statement; on the concrete connection the statement is
/// found by type.
macro_rules! on_backend {
    ($conn:expr, $backend:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($backend) => $body,
            $crate::db::DbConnection::Sqlite($backend) => $body,
        }
    };
}
pub(crate) use on_backend;

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

/// A connection as the pool keeps it: with what the pool cannot see for
/// itself, namely whether it has served before and whether a query on it
/// failed because the connection was lost.
///
/// The pool does not test connections at checkout (a `SELECT 1` there
/// would double the round trips of every query); instead a unit of work
/// that fails with a lost connection marks it [`broken`](Self::mark_broken),
/// the pool drops it, and [`super::DbPool::run`] runs the work again.
pub struct PooledDbConnection {
    conn: DbConnection,
    served: bool,
    broken: bool,
}

impl PooledDbConnection {
    /// The connection, noting that it has now served a caller.
    pub fn take_for_use(&mut self) -> (&mut DbConnection, bool) {
        let had_served = std::mem::replace(&mut self.served, true);
        (&mut self.conn, had_served)
    }

    /// Drops the connection when it goes back to the pool.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl std::ops::Deref for PooledDbConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledDbConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.served = true;
        &mut self.conn
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = PooledDbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledDbConnection, Self::Error> {
        Ok(PooledDbConnection {
            conn: self.open()?,
            served: false,
            broken: false,
        })
    }

    /// Only used when a caller asks for it ([`super::DbPool::get_blocking`]):
    /// the pool is built with `test_on_check_out(false)`.
    fn is_valid(&self, conn: &mut PooledDbConnection) -> Result<(), Self::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// Dropped instead of going back to the pool: a connection a unit of
    /// work found lost, and one whose transaction could not be committed
    /// or rolled back (typically: the server went away mid-transaction).
    fn has_broken(&self, conn: &mut PooledDbConnection) -> bool {
        use diesel::connection::TransactionManager;
        conn.broken
            || <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(
                &mut conn.conn,
            )
    }
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

    #[derive(QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = Text)]
        compile_options: String,
    }

    /// `.cargo/config.toml` builds SQLite with the query planner stability
    /// guarantee; without it every `.first()` query is re-parsed on each run.
    #[test]
    fn bundled_sqlite_keeps_prepared_statements_across_bindings() {
        let mut conn = SqliteConnection::establish(":memory:").expect("opens");
        let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options")
            .load(&mut conn)
            .expect("lists options");
        assert!(
            options.iter().any(|o| o.compile_options == "ENABLE_QPSG"),
            "SQLite was built without SQLITE_ENABLE_QPSG"
        );
    }
}
