//! Write transactions that behave the same on both backends.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::connection::DbConnection;

/// Runs `work` in a transaction that takes the write lock up front.
///
/// SQLite's default `BEGIN` is deferred: a transaction that reads and then
/// writes can fail with `SQLITE_BUSY` when another writer committed in
/// between, and `busy_timeout` cannot help. `BEGIN IMMEDIATE` takes the write
/// lock first, so check-then-write logic (uniqueness checks before inserts)
/// is serialised. PostgreSQL uses an ordinary transaction; its unique indexes
/// remain the final guard there.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?
        }
        DbConnection::Pg(_) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn)?
        }
    }
    match work(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::error!(%rollback, "rollback failed");
            }
            Err(error)
        }
    }
}
