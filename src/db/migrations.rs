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
pub fn run_pending(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConnection::Pg(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = pg.run_pending_migrations(POSTGRES).map(|v| v.len());
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
        DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE).map(|v| v.len()),
    };
    applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}
