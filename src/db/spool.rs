//! The outage spool: a durable, ordered queue of writes that could not
//! reach their database, kept in a local SQLite file.
//!
//! Every append is its own transaction with `synchronous = FULL`, so an
//! entry that [`Spool::append`] accepted survives a crash of the process or
//! of the machine. Entries carry the idempotency key of the write they hold:
//! the replayer applies them in append order and removes each one only
//! after the database accepted it, and a write applied twice (the process
//! died between the two steps) is recognised by its key and skipped. The
//! spool itself knows nothing about what the writes mean.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::time::now_ms;

diesel::table! {
    spooled_writes (seq) {
        seq -> BigInt,
        id -> Text,
        body -> Text,
        spooled_at -> BigInt,
    }
}

/// One spooled write.
#[derive(Debug, Clone, Queryable)]
pub struct SpooledWrite {
    /// Append order.
    pub seq: i64,
    /// The write's idempotency key.
    pub id: String,
    /// The write itself (JSON).
    pub body: String,
    /// When it was spooled, Unix ms.
    pub spooled_at: i64,
}

/// A local append-only queue of writes; see the module docs.
pub struct Spool {
    conn: Mutex<SqliteConnection>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (creating when missing, readable by its owner only) the spool
    /// file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        super::connection::create_private_file(path)
            .with_context(|| format!("creating the spool file {}", path.display()))?;
        let url = path.to_string_lossy();
        let mut conn = SqliteConnection::establish(&url)
            .with_context(|| format!("opening the spool {}", path.display()))?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS spooled_writes (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 id TEXT NOT NULL UNIQUE,
                 body TEXT NOT NULL,
                 spooled_at BIGINT NOT NULL
             );",
        )
        .with_context(|| format!("preparing the spool {}", path.display()))?;
        let spool = Self {
            conn: Mutex::new(conn),
        };
        spool.report_depth();
        Ok(spool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SqliteConnection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends writes (`(id, body)`, in order) durably, in one transaction:
    /// one fsync for the lot. Appending a key that is already spooled does
    /// nothing (the write is already waiting). Blocking.
    pub fn append(&self, writes: &[(&str, String)]) -> anyhow::Result<()> {
        use spooled_writes::dsl;
        let mut conn = self.lock();
        let now = now_ms();
        conn.transaction(|conn| {
            for (id, body) in writes {
                diesel::insert_or_ignore_into(dsl::spooled_writes)
                    .values((dsl::id.eq(id), dsl::body.eq(body), dsl::spooled_at.eq(now)))
                    .execute(conn)?;
            }
            QueryResult::Ok(())
        })
        .context("appending to the spool")?;
        drop(conn);
        metrics::counter!("steward_spool_appended_total").increment(writes.len() as u64);
        self.report_depth();
        Ok(())
    }

    /// The oldest `limit` writes, in append order. Blocking.
    pub fn oldest(&self, limit: i64) -> anyhow::Result<Vec<SpooledWrite>> {
        use spooled_writes::dsl;
        dsl::spooled_writes
            .order(dsl::seq.asc())
            .limit(limit)
            .load(&mut *self.lock())
            .context("reading the spool")
    }

    /// Every write in the spool, in append order (start-up recovery). Blocking.
    pub fn all(&self) -> anyhow::Result<Vec<SpooledWrite>> {
        self.oldest(i64::MAX)
    }

    /// Removes a write the database has accepted. Blocking. The depth
    /// gauges are left to [`Spool::report_depth`], once per replay round.
    pub fn remove(&self, seq: i64) -> anyhow::Result<()> {
        use spooled_writes::dsl;
        diesel::delete(dsl::spooled_writes.find(seq))
            .execute(&mut *self.lock())
            .context("removing from the spool")?;
        metrics::counter!("steward_spool_replayed_total").increment(1);
        Ok(())
    }

    /// How many writes wait. Blocking.
    pub fn depth(&self) -> anyhow::Result<i64> {
        use spooled_writes::dsl;
        dsl::spooled_writes
            .count()
            .get_result(&mut *self.lock())
            .context("counting the spool")
    }

    /// Publishes `steward_spool_depth` and `steward_spool_replay_lag_seconds`
    /// (the age of the oldest waiting write; 0 when the spool is empty).
    pub fn report_depth(&self) {
        use spooled_writes::dsl;
        let mut conn = self.lock();
        let depth: QueryResult<i64> = dsl::spooled_writes.count().get_result(&mut *conn);
        let oldest: QueryResult<Option<i64>> = dsl::spooled_writes
            .select(diesel::dsl::min(dsl::spooled_at))
            .get_result(&mut *conn);
        drop(conn);
        if let (Ok(depth), Ok(oldest)) = (depth, oldest) {
            metrics::gauge!("steward_spool_depth").set(depth as f64);
            let lag_ms = oldest.map_or(0, |at| (now_ms() - at).max(0));
            metrics::gauge!("steward_spool_replay_lag_seconds").set(lag_ms as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_come_back_in_order_once_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.db");
        let spool = Spool::open(&path).unwrap();
        spool
            .append(&[("a", "{\"n\":1}".into()), ("b", "{\"n\":2}".into())])
            .unwrap();
        spool.append(&[("a", "{\"n\":1}".into())]).unwrap();
        drop(spool);

        let spool = Spool::open(&path).unwrap();
        let waiting = spool.all().unwrap();
        let ids: Vec<&str> = waiting.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        spool.remove(waiting[0].seq).unwrap();
        assert_eq!(spool.depth().unwrap(), 1);
        assert_eq!(spool.oldest(10).unwrap()[0].id, "b");
    }
}
