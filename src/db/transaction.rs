//! Write transactions that behave the same on both backends.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::connection::DbConnection;
use super::receipts;
use super::retry::is_connection_error;

/// Runs `work` in a transaction that takes the write lock up front.
///
/// SQLite's default `BEGIN` is deferred: a transaction that reads and then
/// writes can fail with `SQLITE_BUSY` when another writer committed in
/// between, and `busy_timeout` cannot help. `BEGIN IMMEDIATE` takes the write
/// lock first, so check-then-write logic (uniqueness checks before inserts)
/// is serialised. PostgreSQL uses an ordinary transaction; its unique indexes
/// remain the final guard there.
///
/// On PostgreSQL, under [`super::DbPool::run`], the transaction also writes
/// a commit receipt as its last statement, so that a COMMIT whose
/// connection was lost is found out instead of being applied twice (see
/// [`super::receipts`]).
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
    T: Send + 'static,
{
    match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?
        }
        DbConnection::Pg(_) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn)?
        }
    }
    let receipt = match conn {
        DbConnection::Pg(_) => receipts::next_receipt(),
        DbConnection::Sqlite(_) => None,
    };
    let outcome = work(conn).and_then(|value| match &receipt {
        Some(receipt) => receipts::write(conn, receipt)
            .map(|()| value)
            .map_err(E::from),
        None => Ok(value),
    });
    match outcome {
        Ok(value) => {
            match <DbConnection as Connection>::TransactionManager::commit_transaction(conn) {
                Ok(()) => Ok(value),
                Err(error) => {
                    if let (Some(receipt), true) = (receipt, is_connection_error(&error)) {
                        receipts::keep_lost(receipt, value);
                    }
                    Err(E::from(error))
                }
            }
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
