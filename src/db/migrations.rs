//! Embedded migrations, one set per backend.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::DbConnection;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// An arbitrary, fixed advisory-lock key that serialises migrations when
/// several Steward processes start against one PostgreSQL database at once.
const MIGRATION_LOCK_KEY: i64 = 0x0053_7465_7761_7264;

/// Runs every pending migration and returns how many ran.
///
/// On PostgreSQL all pending migrations run in one transaction holding a
/// transaction-scoped advisory lock: concurrent starters wait for each
/// other, a failure leaves nothing half-applied, and the lock cannot leak
/// behind a transaction-mode pooler (a session lock would).
pub fn run_pending(conn: &mut DbConnection) -> anyhow::Result<usize> {
    use diesel::Connection;
    let applied = match conn {
        DbConnection::Pg(pg) => pg.transaction(|pg| {
            pg.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            pg.run_pending_migrations(POSTGRES).map(|v| v.len())
        }),
        DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE).map(|v| v.len()),
    };
    applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}
