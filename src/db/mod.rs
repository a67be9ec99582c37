//! The data layer: connection pools for the primary, replicas and per-module
//! databases, and [`DbPool::run`], the one way handlers reach a database.

mod connection;
mod database;
mod failover;
pub mod migrations;
mod receipts;
use receipts::{resolve_then_run, run_unit, Attempt};
mod retry;
pub mod schema;
pub mod spool;
mod transaction;
mod url;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use tracing::Instrument;

pub(crate) use connection::on_backend;
pub use connection::{ConnectionManager, DbConnection, MultiBackend, PooledDbConnection};
pub use database::Database;
pub use failover::{BreakerState, ReadFailover};
pub use retry::{is_connection_error, Transient};
pub use transaction::write_transaction;
pub use url::DatabaseUrl;

use crate::config::DatabaseSettings;

diesel::define_sql_function! {
    /// SQL `lower()` on a non-null text.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` substring pattern.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Why a database call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time: the database is down or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(#[from] diesel::r2d2::PoolError),
    /// The query itself failed.
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// The blocking task was cancelled (the runtime is shutting down).
    #[error("database task cancelled")]
    Cancelled,
    /// A write was committed, but the connection was lost before its
    /// result came back, and the result could not be recovered (see
    /// [`receipts`]). The write must not be repeated.
    #[error("write committed, result lost with the connection")]
    ResultLost,
}

/// A named pool of connections to one database.
#[derive(Clone)]
pub struct DbPool {
    label: &'static str,
    backend: &'static str,
    pool: Pool<ConnectionManager>,
    manager: ConnectionManager,
    retry_budget: Duration,
    /// Set while a database this process needs has not been reached since
    /// start-up (see [`Database::await_module_database`]).
    waiting: Arc<AtomicBool>,
    /// The parts of the schema this database holds (none for a replica,
    /// which follows the primary).
    schema: Vec<&'static migrations::Migrations>,
}

impl std::fmt::Debug for DbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbPool")
            .field("label", &self.label)
            .field("backend", &self.backend)
            .finish()
    }
}

impl DbPool {
    /// A pool for the database at `raw_url`. An `eager` pool keeps
    /// connections open from the start; any other opens one only when a
    /// query needs it, so a process never connects to a database its role
    /// does not use. `schema`: the parts of the schema it holds.
    fn connect(
        label: &'static str,
        raw_url: &str,
        settings: &DatabaseSettings,
        eager: bool,
        schema: Vec<&'static migrations::Migrations>,
    ) -> anyhow::Result<Self> {
        let url =
            DatabaseUrl::parse(raw_url).map_err(|e| anyhow::anyhow!("{label} database: {e}"))?;
        if let DatabaseUrl::Sqlite(path) = &url {
            connection::create_private_file(path)
                .with_context(|| format!("creating the database file {}", path.display()))?;
        }
        let backend = url.backend_name();
        let is_sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let manager = ConnectionManager::new(url, settings.pooler, settings.sqlite_busy_timeout);
        if is_sqlite {
            // Switch the file to WAL once, before the pool opens connections
            // in the background: concurrent first-time switches can fail
            // with "database is locked" without waiting for busy_timeout.
            manager
                .open()
                .map_err(|e| anyhow::anyhow!("cannot open the {label} database: {e}"))?;
        }
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(if eager { settings.pool_size.min(2) } else { 0 }))
            .connection_timeout(settings.connect_timeout)
            // No `SELECT 1` before every checkout: a lost connection is
            // found by the query that meets it (see `attempt`).
            .test_on_check_out(false)
            .error_handler(Box::new(LogConnectErrors { label }))
            .build_unchecked(manager.clone());
        Ok(Self {
            label,
            backend,
            pool,
            manager,
            retry_budget: settings.retry_budget,
            waiting: Arc::new(AtomicBool::new(false)),
            schema,
        })
    }

    /// Whether this process still waits for the database to be reached
    /// (and migrated) for the first time.
    pub fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// The pool's role in metrics and readiness reports (`primary`, `replica`, a module).
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// `postgres` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Takes a connection on the calling thread; for start-up, periodic
    /// reloads and CLI commands, never for request handlers (use
    /// [`DbPool::run`]). The callers have no retry of their own, so a
    /// connection that has served before is tested first and, if the
    /// server dropped it meanwhile, replaced.
    pub fn get_blocking(&self) -> Result<BlockingConnection, DbError> {
        for _ in 0..self.pool.max_size() {
            let mut pooled = self.pool.get()?;
            let (_, had_served) = pooled.take_for_use();
            if !had_served || self.manager.is_valid(&mut pooled).is_ok() {
                return Ok(BlockingConnection(pooled));
            }
            pooled.mark_broken();
        }
        Ok(BlockingConnection(self.pool.get()?))
    }

    /// Opens one fresh connection and reports the driver's own error, which
    /// r2d2's "timed out waiting for connection" would hide.
    pub fn check_connect(&self) -> anyhow::Result<()> {
        self.manager
            .open()
            .map(drop)
            .map_err(|e| anyhow::anyhow!("cannot connect to the {} database: {e}", self.label))
    }

    /// Runs `work` with a pooled connection on the blocking thread pool, so an
    /// async worker never waits on I/O. The caller's tracing span is kept,
    /// the latency of each attempt (pool checkout and query, timed on the
    /// blocking thread) is recorded per pool and query name, and a missing
    /// connection becomes [`DbError::Unavailable`].
    ///
    /// When an attempt fails because the connection was lost (see
    /// [`Transient`]), `work` runs again after a backoff, for at most
    /// `database.retry_budget`; that is why it is `Fn`. A unit of work that
    /// writes more than once must do so in one transaction
    /// ([`write_transaction`]), so a lost connection rolls all of it back
    /// before it is retried.
    pub async fn run<T, E, F>(&self, query: &'static str, work: F) -> Result<T, E>
    where
        F: Fn(&mut DbConnection) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Transient + Send + 'static,
    {
        let work = Arc::new(work);
        let started = Instant::now();
        let mut backoff = retry::Backoff::new();
        // Names this unit of work's commit receipts, the same in every attempt.
        let unit = receipts::UnitId::next();
        let mut lost_commit = None;
        // Connections that sat in the pool may all have been dropped by a
        // database restart; each is found out by one failed attempt, which
        // is retried at once (up to the pool's size) rather than after a
        // backoff meant for a database that is still down.
        let mut stale_retries = 0;
        loop {
            let attempt = self
                .attempt(query, unit, lost_commit.take(), work.clone())
                .await;
            let Attempt {
                outcome,
                on_stale_connection,
                lost,
                resolved,
            } = attempt;
            lost_commit = lost;
            match outcome {
                Err(error) if error.is_transient() && !resolved => {
                    let retry_now = on_stale_connection && stale_retries < self.pool.max_size();
                    let delay = if retry_now {
                        stale_retries += 1;
                        Duration::ZERO
                    } else {
                        backoff.next_delay()
                    };
                    if started.elapsed() + delay >= self.retry_budget {
                        return Err(error);
                    }
                    metrics::counter!(
                        "steward_db_retries_total",
                        "pool" => self.label,
                        "query" => query,
                    )
                    .increment(1);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// One attempt at `work`. A commit an earlier attempt lost is resolved
    /// first, on this attempt's connection: when it turns out committed,
    /// its result is the answer and `work` does not run again. A connection
    /// that failed is marked broken, so the pool drops it.
    async fn attempt<T, E, F>(
        &self,
        query: &'static str,
        unit: receipts::UnitId,
        lost_commit: Option<receipts::LostCommit>,
        work: Arc<F>,
    ) -> Attempt<T, E>
    where
        F: Fn(&mut DbConnection) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Transient + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::debug_span!("db", pool = self.label, query);
        let latency = metrics::histogram!(
            "steward_db_query_duration_seconds",
            "pool" => self.label,
            "query" => query,
        );
        let outcome = actix_web::web::block(move || {
            let _entered = span.enter();
            // Measured on the blocking thread: the pool checkout and the
            // query, not the hops between threads.
            let started = Instant::now();
            let attempt = match pool.get() {
                Ok(mut pooled) => {
                    let (conn, had_served) = pooled.take_for_use();
                    let attempt = match lost_commit {
                        Some(lost) => resolve_then_run(conn, unit, lost, &*work),
                        None => run_unit(conn, unit, &*work),
                    };
                    let lost = matches!(&attempt.outcome, Err(error) if error.is_transient());
                    if lost {
                        pooled.mark_broken();
                    }
                    Attempt {
                        on_stale_connection: lost && had_served,
                        ..attempt
                    }
                }
                Err(error) => Attempt {
                    outcome: Err(E::from(DbError::from(error))),
                    on_stale_connection: false,
                    lost: lost_commit,
                    resolved: false,
                },
            };
            latency.record(started.elapsed().as_secs_f64());
            attempt
        })
        .instrument(tracing::Span::current())
        .await;
        outcome.unwrap_or_else(|_| Attempt {
            outcome: Err(E::from(DbError::Cancelled)),
            on_stale_connection: false,
            lost: None,
            resolved: true,
        })
    }

    /// Marks the database as not reached yet (see [`DbPool::is_waiting`]).
    pub fn set_waiting(&self) {
        self.waiting.store(true, Ordering::Release);
    }

    /// Runs the pending migrations of the parts it holds; returns how
    /// many ran.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let mut conn = self
            .get_blocking()
            .with_context(|| format!("connecting to the {} database", self.label))?;
        migrations::run_pending(&mut conn, &self.schema)
            .with_context(|| format!("migrating the {} database", self.label))
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        use diesel::connection::SimpleConnection;
        self.run("ping", |conn| {
            conn.batch_execute("SELECT 1").map_err(DbError::from)
        })
        .await
    }
}

/// A connection taken with [`DbPool::get_blocking`]; goes back to the pool
/// when dropped.
pub struct BlockingConnection(PooledConnection<ConnectionManager>);

impl std::ops::Deref for BlockingConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.0
    }
}

impl std::ops::DerefMut for BlockingConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0
    }
}

/// Logs connection failures r2d2 meets while filling a pool in the background.
#[derive(Debug)]
struct LogConnectErrors {
    label: &'static str,
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogConnectErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(pool = self.label, %error, "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a%b_c"), "%a\\%b\\_c%");
    }
}
