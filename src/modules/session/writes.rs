//! The session API's writes: touches, token issuance records, and session
//! endings (sign-out, removal, revocation). They are inserts into
//! append-only tables, each keyed by an id made when the write is made, so
//! applying one twice is recognised and does nothing.
//!
//! While the session database cannot be reached, these writes go to the
//! outage spool ([`crate::db::spool`]) instead of failing, and are replayed
//! in order when it is back. A session ended during an outage stops getting
//! tokens at once: this process remembers it, and re-reads it from the
//! spool after a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::model::status;
use super::store;
use crate::db::schema::{session_activity, session_events, session_token_issuances, sessions};
use crate::db::spool::Spool;
use crate::db::{on_backend, write_transaction, DbConnection, Transient};
use crate::http::ApiError;
use crate::modules::Module;
use crate::state::AppState;

/// How long a replayed ending is still checked in memory: a replica that
/// serves reads may not have caught up with the replay yet.
const REMEMBER_AFTER_REPLAY: Duration = Duration::from_secs(600);
/// Token issuance records wait in memory for at most this many…
const ISSUANCE_QUEUE: usize = 65_536;
/// …and are inserted this many at a time.
const ISSUANCE_BATCH: usize = 512;
/// Spooled writes replayed per database round trip.
const REPLAY_BATCH: i64 = 200;

/// One write of the session API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionWrite {
    /// Activity on a session (`/touch`).
    Activity {
        id: String,
        session_id: String,
        at: i64,
    },
    /// A freshly signed session token; `id` is its `jti`.
    TokenIssued {
        id: String,
        session_id: String,
        kid: String,
        issued_at: i64,
        expires_at: i64,
    },
    /// The session ended with `status` (`ended`, `removed` or `revoked`).
    Finished {
        id: String,
        session_id: String,
        status: String,
        at: i64,
    },
}

impl SessionWrite {
    /// The idempotency key.
    pub fn id(&self) -> &str {
        match self {
            Self::Activity { id, .. }
            | Self::TokenIssued { id, .. }
            | Self::Finished { id, .. } => id,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Activity { .. } => "activity",
            Self::TokenIssued { .. } => "token_issued",
            Self::Finished { .. } => "finished",
        }
    }
}

fn is_duplicate(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Applies `write`: `Ok(true)` when it changed the database now,
/// `Ok(false)` when it had been applied before.
pub fn apply(conn: &mut DbConnection, write: &SessionWrite) -> Result<bool, ApiError> {
    let outcome = match write {
        SessionWrite::Activity { id, session_id, at } => {
            diesel::insert_into(session_activity::table)
                .values((
                    session_activity::id.eq(id),
                    session_activity::session_id.eq(session_id),
                    session_activity::occurred_at.eq(at),
                ))
                .execute(conn)
        }
        SessionWrite::TokenIssued { .. } => insert_issuances(conn, std::slice::from_ref(write)),
        SessionWrite::Finished {
            id,
            session_id,
            status: new_status,
            at,
        } => write_transaction(conn, |conn| {
            diesel::insert_into(session_events::table)
                .values((
                    session_events::id.eq(id),
                    session_events::session_id.eq(session_id),
                    session_events::kind.eq(new_status),
                    session_events::occurred_at.eq(at),
                ))
                .execute(conn)?;
            diesel::update(
                sessions::table
                    .find(session_id)
                    .filter(sessions::status.eq(status::ACTIVE)),
            )
            .set((
                sessions::status.eq(new_status),
                sessions::ended_at.eq(at),
                sessions::updated_at.eq(at),
            ))
            .execute(conn)?;
            store::forget_last_active_session(conn, session_id, *at)
        }),
    };
    match outcome {
        Ok(_) => Ok(true),
        Err(error) if is_duplicate(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn insert_issuances(conn: &mut DbConnection, writes: &[SessionWrite]) -> QueryResult<usize> {
    let rows: Vec<_> = writes
        .iter()
        .filter_map(|write| match write {
            SessionWrite::TokenIssued {
                id,
                session_id,
                kid,
                issued_at,
                expires_at,
            } => Some((
                session_token_issuances::id.eq(id),
                session_token_issuances::session_id.eq(session_id),
                session_token_issuances::kid.eq(kid),
                session_token_issuances::issued_at.eq(issued_at),
                session_token_issuances::expires_at.eq(expires_at),
            )),
            _ => None,
        })
        .collect();
    // One multi-row INSERT, written per backend: diesel's multi-backend
    // connection has no batch insert.
    let insert = diesel::insert_into(session_token_issuances::table).values(rows);
    on_backend!(conn, backend => insert.execute(backend))
}

/// A session ended through the spool.
#[derive(Debug, Clone)]
struct Ended {
    status: String,
    /// When the ending reached the database (`None`: still spooled).
    replayed: Option<Instant>,
}

/// The spool, the sessions ended while it was in use, and the queue of
/// token issuance records. One per process.
pub struct SessionWrites {
    spool: Spool,
    /// Sessions whose ending went to the spool, by id.
    ended: RwLock<HashMap<String, Ended>>,
    /// Whether `ended` has entries: the token path checks this first.
    any_ended: AtomicBool,
    issuances: mpsc::Sender<SessionWrite>,
    issuance_queue: std::sync::Mutex<Option<mpsc::Receiver<SessionWrite>>>,
}

impl std::fmt::Debug for SessionWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWrites").finish_non_exhaustive()
    }
}

impl SessionWrites {
    /// Opens the spool and remembers the endings waiting in it. Blocking.
    pub fn open(spool_path: &std::path::Path) -> anyhow::Result<Self> {
        let spool = Spool::open(spool_path)?;
        let mut ended = HashMap::new();
        for waiting in spool.all()? {
            if let Ok(SessionWrite::Finished {
                session_id, status, ..
            }) = serde_json::from_str(&waiting.body)
            {
                ended.insert(
                    session_id,
                    Ended {
                        status,
                        replayed: None,
                    },
                );
            }
        }
        if !ended.is_empty() {
            tracing::warn!(
                sessions = ended.len(),
                "sessions ended during a database outage are still waiting in the spool"
            );
        }
        let (issuances, queue) = mpsc::channel(ISSUANCE_QUEUE);
        Ok(Self {
            spool,
            any_ended: AtomicBool::new(!ended.is_empty()),
            ended: RwLock::new(ended),
            issuances,
            issuance_queue: std::sync::Mutex::new(Some(queue)),
        })
    }

    /// The status of a session ended by a write that has not (long)
    /// reached the database, whose row may therefore still say `active`.
    pub fn ended_status(&self, session_id: &str) -> Option<String> {
        if !self.any_ended.load(Ordering::Acquire) {
            return None;
        }
        let ended = self.ended.read().ok()?;
        ended.get(session_id).map(|e| e.status.clone())
    }

    /// Whether [`SessionWrites::ended_status`] knows the session.
    pub fn is_ended(&self, session_id: &str) -> bool {
        self.ended_status(session_id).is_some()
    }

    /// Applies the endings this process knows about to rows read from a
    /// database that may not have them yet.
    pub fn overlay(&self, session: &mut super::model::SessionRow) {
        if let Some(status) = self.ended_status(&session.id) {
            if session.status == status::ACTIVE {
                session.status = status;
            }
        }
    }

    fn remember_ended(&self, session_id: &str, status: &str) {
        if let Ok(mut ended) = self.ended.write() {
            ended.insert(
                session_id.to_owned(),
                Ended {
                    status: status.to_owned(),
                    replayed: None,
                },
            );
            self.any_ended.store(true, Ordering::Release);
        }
    }

    /// Appends `writes` to the spool in one durable transaction and
    /// remembers the endings among them. Blocking.
    fn spool(&self, writes: &[SessionWrite]) -> Result<(), ApiError> {
        let entries = writes
            .iter()
            .map(|write| Ok((write.id(), serde_json::to_string(write)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(ApiError::internal)?;
        self.spool.append(&entries).map_err(ApiError::internal)?;
        for write in writes {
            if let SessionWrite::Finished {
                session_id, status, ..
            } = write
            {
                self.remember_ended(session_id, status);
            }
            metrics::counter!("steward_session_writes_total", "kind" => write.kind(), "outcome" => "spooled")
                .increment(1);
        }
        Ok(())
    }

    /// Number of writes waiting in the spool.
    pub fn spool_depth(&self) -> anyhow::Result<i64> {
        self.spool.depth()
    }
}

/// Whether the session module's writes should skip the database: reads
/// already found it unreachable (the breaker is open).
fn database_known_down(state: &AppState) -> bool {
    !state.db.has_own_database(Module::Session)
        && matches!(
            state.db.breaker_state(),
            crate::db::BreakerState::Open { .. }
        )
}

/// Runs `work` on the session database unless it is known to be down,
/// giving up after `deadline`. `None`: unreachable (the write belongs in
/// the spool); `Some(Err)`: the database answered with an error.
async fn try_database<T, F>(
    state: &AppState,
    deadline: Duration,
    query: &'static str,
    work: F,
) -> Option<Result<T, ApiError>>
where
    F: Fn(&mut DbConnection) -> Result<T, ApiError> + Send + Sync + 'static,
    T: Send + 'static,
{
    if database_known_down(state) {
        return None;
    }
    let pool = super::service::pool(state);
    match tokio::time::timeout(deadline, pool.run(query, work)).await {
        Ok(Err(error)) if error.is_transient() => None,
        Ok(outcome) => Some(outcome),
        Err(_) => None,
    }
}

/// Appends `writes` to the spool, off the async worker.
async fn spool_off_thread(state: &AppState, writes: Vec<SessionWrite>) -> Result<(), ApiError> {
    let spool = state.session_writes.clone();
    tokio::task::spawn_blocking(move || spool.spool(&writes))
        .await
        .map_err(ApiError::internal)?
}

/// Makes `write`: in the session database when it answers within
/// `database.primary_timeout`, otherwise in the spool. Errors only when
/// the database refused the write for another reason than being
/// unreachable, or the spool could not be written.
pub async fn record(state: &AppState, write: SessionWrite) -> Result<(), ApiError> {
    let attempt = write.clone();
    let deadline = state.settings.database.primary_timeout;
    match try_database(state, deadline, "sessions.write", move |conn| {
        apply(conn, &attempt)
    })
    .await
    {
        Some(Ok(_)) => {
            metrics::counter!("steward_session_writes_total", "kind" => write.kind(), "outcome" => "applied")
                .increment(1);
            Ok(())
        }
        Some(Err(error)) => Err(error),
        None => {
            tracing::warn!(
                kind = write.kind(),
                "session database unreachable; write spooled"
            );
            spool_off_thread(state, vec![write]).await
        }
    }
}

/// Queues a token issuance record; a background task inserts them in
/// batches (see [`insert_issuance_batches`]). A full queue spools the record.
pub fn record_issuance(state: &AppState, write: SessionWrite) {
    if let Err(mpsc::error::TrySendError::Full(write) | mpsc::error::TrySendError::Closed(write)) =
        state.session_writes.issuances.try_send(write)
    {
        let writes = state.session_writes.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = writes.spool(&[write]) {
                tracing::error!(%error, "a token issuance record was lost");
            }
        });
    }
}

/// Inserts queued token issuance records, up to [`ISSUANCE_BATCH`] per
/// statement, so signing a token never waits for a database write. Records
/// the database cannot take go to the spool. Runs until the process stops.
pub async fn insert_issuance_batches(state: Arc<AppState>) {
    let Some(mut queue) = state
        .session_writes
        .issuance_queue
        .lock()
        .ok()
        .and_then(|mut q| q.take())
    else {
        return;
    };
    let mut batch = Vec::with_capacity(ISSUANCE_BATCH);
    while queue.recv_many(&mut batch, ISSUANCE_BATCH).await > 0 {
        let rows = Arc::new(std::mem::take(&mut batch));
        let attempt = rows.clone();
        // A database slowed by load is not down: only an unreachable one
        // (the retry budget spent) sends records to the spool.
        let settings = &state.settings.database;
        let deadline = settings.retry_budget.max(settings.primary_timeout);
        let outcome = try_database(&state, deadline, "sessions.record_issuances", move |conn| {
            insert_issuances(conn, &attempt).map_err(ApiError::from)
        })
        .await;
        match outcome {
            Some(Ok(count)) => {
                metrics::counter!("steward_session_writes_total", "kind" => "token_issued", "outcome" => "applied")
                    .increment(count as u64);
            }
            // A duplicate in the batch (a record that also reached the
            // spool): apply one by one, each idempotently.
            Some(Err(_)) => {
                for write in rows.iter() {
                    if let Err(error) = record(&state, write.clone()).await {
                        tracing::error!(%error, "a token issuance record was refused");
                    }
                }
            }
            None => {
                let rows = Arc::unwrap_or_clone(rows);
                if let Err(error) = spool_off_thread(&state, rows).await {
                    tracing::error!(%error, "token issuance records could not be spooled");
                }
            }
        }
        // Let records gather between inserts under load.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Replays spooled writes, oldest first, every `spool.replay_interval`.
/// A write leaves the spool only after the database took it, so a crash
/// at any point replays at most what was not yet confirmed, and [`apply`]
/// skips anything that had in fact arrived. Runs until the process stops.
pub async fn replay_spool(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.settings.spool.replay_interval);
    loop {
        ticker.tick().await;
        let current = state.clone();
        match tokio::task::spawn_blocking(move || current.session_writes.spool.oldest(REPLAY_BATCH))
            .await
        {
            Ok(Ok(waiting)) if !waiting.is_empty() => {
                replay_batch(&state, waiting).await;
                let current = state.clone();
                // The depth gauges, once per round rather than per write.
                let _cancelled = tokio::task::spawn_blocking(move || {
                    current.session_writes.spool.report_depth()
                })
                .await;
            }
            Ok(Ok(_)) => forget_replayed(&state.session_writes),
            Ok(Err(error)) => tracing::error!(%error, "reading the spool failed"),
            Err(_) => return,
        }
    }
}

async fn replay_batch(state: &Arc<AppState>, waiting: Vec<crate::db::spool::SpooledWrite>) {
    let pool = super::service::pool(state);
    for entry in waiting {
        let write: SessionWrite = match serde_json::from_str(&entry.body) {
            Ok(write) => write,
            Err(error) => {
                tracing::error!(%error, id = entry.id, "an unreadable spooled write was dropped");
                remove_spooled(state, entry.seq).await;
                continue;
            }
        };
        let attempt = write.clone();
        let applied = pool
            .run("sessions.replay", move |conn| apply(conn, &attempt))
            .await;
        match applied {
            Ok(_) => {
                remove_spooled(state, entry.seq).await;
                if let SessionWrite::Finished { session_id, .. } = &write {
                    if let Ok(mut ended) = state.session_writes.ended.write() {
                        if let Some(entry) = ended.get_mut(session_id) {
                            entry.replayed = Some(Instant::now());
                        }
                    }
                }
            }
            // Still unreachable: try again on the next tick, in order.
            Err(error) if error.is_transient() => return,
            Err(error) => {
                tracing::error!(%error, id = entry.id, "the database refused a spooled write; dropped");
                remove_spooled(state, entry.seq).await;
            }
        }
    }
    tracing::info!("spooled session writes replayed");
}

async fn remove_spooled(state: &Arc<AppState>, seq: i64) {
    let current = state.clone();
    let removed =
        tokio::task::spawn_blocking(move || current.session_writes.spool.remove(seq)).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::error!(seq, "removing a replayed write from the spool failed");
    }
}

fn forget_replayed(writes: &SessionWrites) {
    if !writes.any_ended.load(Ordering::Acquire) {
        return;
    }
    if let Ok(mut ended) = writes.ended.write() {
        ended.retain(|_, entry| {
            entry
                .replayed
                .is_none_or(|at| at.elapsed() < REMEMBER_AFTER_REPLAY)
        });
        writes.any_ended.store(!ended.is_empty(), Ordering::Release);
    }
}
