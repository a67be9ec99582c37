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
use std::sync::RwLock;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

mod issuances;
mod replay;

pub use issuances::{insert_issuance_batches, record_issuance};
pub use replay::replay_spool;

use super::model::status;
use super::store;
use crate::db::schema::{session_activity, session_events, sessions};
use crate::db::spool::Spool;
use crate::db::{write_transaction, DbConnection, Transient};
use crate::http::ApiError;
use crate::modules::Module;
use crate::state::AppState;

/// Token issuance records wait in memory for at most this many (see
/// [`issuances`]).
const ISSUANCE_QUEUE: usize = 65_536;

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
        SessionWrite::TokenIssued { .. } => {
            issuances::insert_issuances(conn, std::slice::from_ref(write))
        }
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
