//! Commit receipts: how a unit of work whose COMMIT lost its connection is
//! applied exactly once.
//!
//! [`super::DbPool::run`] retries a unit of work when its connection is
//! lost. Before COMMIT reached the server that is safe: the server rolls the
//! transaction back. But when the connection drops while COMMIT is in
//! flight, the client cannot tell whether the server committed, and running
//! the work again could apply it twice (a second session, a second member)
//! or refuse it as a duplicate of itself.
//!
//! So on PostgreSQL every [`super::write_transaction`] run under
//! `DbPool::run` inserts one row into `commit_receipts`, keyed by the unit
//! of work and the transaction's place in it, as its last statement. When
//! COMMIT fails with a lost connection, the transaction's result is kept
//! aside ([`LostCommit`]); the next attempt, on a fresh connection, first
//! looks the receipt up: present means the server committed, and the kept
//! result is the answer; absent means it rolled back, and the work runs
//! again. SQLite is embedded: its connections are not lost, so it writes no
//! receipt.
//!
//! A receipt is only looked up within the retry budget of its own unit of
//! work, so [`trim`] deletes old ones.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::connection::DbConnection;
use super::DbError;
use crate::time::now_ms;

/// Receipts older than this are deleted; far longer than any retry budget.
pub const RECEIPT_RETENTION: Duration = Duration::from_secs(15 * 60);

/// Tells this process's receipts from every other process's.
static PROCESS: LazyLock<String> = LazyLock::new(|| crate::crypto::ids::new_id("proc"));
static NEXT_UNIT: AtomicU64 = AtomicU64::new(0);

/// A unit of work: [`super::DbPool::run`] takes one per call and keeps it
/// across the call's attempts. Taking one costs an atomic increment; the
/// receipt text is only made for a transaction on PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct UnitId(u64);

impl UnitId {
    pub fn next() -> Self {
        Self(NEXT_UNIT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A transaction whose COMMIT lost its connection: its receipt and the
/// result the work had produced.
pub struct LostCommit {
    receipt: String,
    value: Box<dyn Any + Send>,
}

impl std::fmt::Debug for LostCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LostCommit")
            .field("receipt", &self.receipt)
            .finish_non_exhaustive()
    }
}

/// The unit of work running on this thread: its receipt prefix, how many
/// transactions it has opened, and a commit whose outcome was lost.
struct Unit {
    id: UnitId,
    transactions: u32,
    lost: Option<LostCommit>,
}

thread_local! {
    static CURRENT: RefCell<Option<Unit>> = const { RefCell::new(None) };
}

/// Runs `work` as one attempt of the unit of work `id`, and returns what it returned with the commit it lost,
/// if any. Without a unit (start-up and CLI code) transactions write no
/// receipt.
pub fn attempt<R>(id: UnitId, work: impl FnOnce() -> R) -> (R, Option<LostCommit>) {
    CURRENT.with(|current| {
        *current.borrow_mut() = Some(Unit {
            id,
            transactions: 0,
            lost: None,
        })
    });
    // Cleared even if `work` panics, so a later unit on this pooled thread
    // never sees this one's state.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CURRENT.with(|current| current.borrow_mut().take());
        }
    }
    let clear = Clear;
    let result = work();
    let lost = CURRENT.with(|current| current.borrow_mut().as_mut()?.lost.take());
    drop(clear);
    (result, lost)
}

/// The receipt for the next transaction of the current unit of work, if
/// one is running on this thread.
pub(super) fn next_receipt() -> Option<String> {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        let unit = current.as_mut()?;
        unit.transactions += 1;
        Some(format!("{}.{}.{}", *PROCESS, unit.id.0, unit.transactions))
    })
}

/// Writes `receipt` inside the open transaction.
pub(super) fn write(conn: &mut DbConnection, receipt: &str) -> QueryResult<()> {
    diesel::sql_query("INSERT INTO commit_receipts (id, created_at) VALUES ($1, $2)")
        .bind::<Text, _>(receipt)
        .bind::<BigInt, _>(now_ms())
        .execute(conn)
        .map(drop)
}

/// Keeps `value` as the result of the transaction `receipt`, whose COMMIT
/// lost its connection.
pub(super) fn keep_lost<T: Send + 'static>(receipt: String, value: T) {
    CURRENT.with(|current| {
        if let Some(unit) = current.borrow_mut().as_mut() {
            unit.lost = Some(LostCommit {
                receipt,
                value: Box::new(value),
            });
        }
    });
}

impl LostCommit {
    /// Whether the server committed the transaction: its receipt is there.
    /// Asked on a fresh connection.
    pub fn was_committed(&self, conn: &mut DbConnection) -> QueryResult<bool> {
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = BigInt)]
            found: i64,
        }
        let found: Found =
            diesel::sql_query("SELECT COUNT(*) AS found FROM commit_receipts WHERE id = $1")
                .bind::<Text, _>(&self.receipt)
                .get_result(conn)?;
        Ok(found.found > 0)
    }

    /// The committed transaction's result, as the unit of work's result;
    /// `None` when the unit of work turned it into something else before
    /// returning (it did more after the transaction), so the answer is gone.
    pub fn into_result<T: 'static>(self) -> Option<T> {
        self.value.downcast::<T>().ok().map(|value| *value)
    }
}

/// Deletes receipts older than [`RECEIPT_RETENTION`]; returns how many.
pub fn trim(conn: &mut DbConnection) -> QueryResult<usize> {
    let retention = i64::try_from(RECEIPT_RETENTION.as_millis()).unwrap_or(i64::MAX / 4);
    let before = now_ms() - retention;
    diesel::sql_query("DELETE FROM commit_receipts WHERE created_at < $1")
        .bind::<BigInt, _>(before)
        .execute(conn)
}

/// What one attempt of a unit of work came to.
pub(super) struct Attempt<T, E> {
    pub outcome: Result<T, E>,
    /// The attempt failed on a connection that had served before.
    pub on_stale_connection: bool,
    /// A commit whose outcome is still unknown, for the next attempt.
    pub lost: Option<LostCommit>,
    /// The outcome is final even if it is an error: the work may have been
    /// committed, so it must not run again.
    pub resolved: bool,
}

/// Runs `work` as an attempt of `unit`, keeping a commit it loses.
pub(super) fn run_unit<T, E, F>(conn: &mut DbConnection, unit: UnitId, work: &F) -> Attempt<T, E>
where
    F: Fn(&mut DbConnection) -> Result<T, E>,
{
    let (outcome, lost) = attempt(unit, || work(conn));
    Attempt {
        outcome,
        on_stale_connection: false,
        lost,
        resolved: false,
    }
}

/// Finds out whether the lost commit of an earlier attempt was applied;
/// runs `work` again only if it was not.
pub(super) fn resolve_then_run<T, E, F>(
    conn: &mut DbConnection,
    unit: UnitId,
    lost: LostCommit,
    work: &F,
) -> Attempt<T, E>
where
    F: Fn(&mut DbConnection) -> Result<T, E>,
    T: 'static,
    E: From<DbError>,
{
    let resolved = |outcome| Attempt {
        outcome,
        on_stale_connection: false,
        lost: None,
        resolved: true,
    };
    match lost.was_committed(conn) {
        Ok(true) => match lost.into_result() {
            Some(value) => resolved(Ok(value)),
            None => {
                tracing::warn!("a write committed, but its result was lost with its connection");
                resolved(Err(E::from(DbError::ResultLost)))
            }
        },
        Ok(false) => run_unit(conn, unit, work),
        // Still not known: keep it for the next attempt.
        Err(error) => Attempt {
            outcome: Err(E::from(DbError::Query(error))),
            on_stale_connection: false,
            lost: Some(lost),
            resolved: false,
        },
    }
}
