//! The session reads behind fresh tokens, coalesced.
//!
//! Every fresh token needs its session row. Read one by one, each read pays
//! a hand-off to a blocking thread and back, a pool checkout, and (on
//! PostgreSQL) a round trip whose fixed cost in the server's backend is
//! larger than the row lookup itself (see "What was optimised" in
//! `docs/benchmarks.md`).
//!
//! Here reads that arrive while one is in flight wait for it to finish and
//! then go together, as one unit of work: one `id IN ($1, …)` query on
//! PostgreSQL (`store::find_sessions`), one cached primary-key lookup per
//! id on SQLite (in-process, so only the hand-off is shared). A read that
//! finds nothing in flight starts at once, so an idle server adds no wait:
//! batches form only when requests arrive faster than reads finish, which
//! is when sharing the fixed costs pays.
//!
//! Queues are per worker thread: a worker's requests wait only for reads
//! that worker started, never for another worker's scheduling, and the
//! queue needs no lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use thread_local::ThreadLocal;
use tokio::sync::oneshot;

use super::model::SessionRow;
use super::store;
use crate::db::Database;
use crate::http::ApiError;
use crate::modules::Module;

/// Most ids read in one unit of work; more wait for the next. Sixteen is
/// where the shared costs are spread thin (one read of 16 rows cost about
/// three times one of a single row in pgbench) and below where PostgreSQL
/// starts to plan the `IN` list as a sequential scan of a small table (32
/// ids on the benchmark's 1000 sessions). Sixteen per read is still far
/// more reads a second than one core can sign tokens for.
const MAX_BATCH: usize = 16;

type Answer = Result<Option<SessionRow>, ApiError>;

/// Coalesces the token path's session reads; one per process, cheap to clone.
#[derive(Clone)]
pub struct TokenSessionReads {
    db: Database,
    queues: Arc<ThreadLocal<RefCell<Queue>>>,
    /// Units of work read so far, across threads.
    reads: Arc<AtomicU64>,
}

impl std::fmt::Debug for TokenSessionReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSessionReads").finish_non_exhaustive()
    }
}

/// One worker thread's waiting reads.
#[derive(Default)]
struct Queue {
    waiting: Vec<(String, oneshot::Sender<Answer>)>,
    /// This thread's reader task is running; it takes `waiting` when its
    /// read is done.
    reading: bool,
}

impl TokenSessionReads {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            queues: Arc::default(),
            reads: Arc::default(),
        }
    }

    /// How many reads (units of work, however many sessions each) this
    /// process has made for tokens: fewer than the fresh tokens it minted
    /// when reads were shared.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The session `id`, read together with the others waiting on this
    /// worker (with replica failover, like every token-path read). Must run
    /// on a worker's local task set, as every request handler does.
    pub async fn find(&self, id: String) -> Answer {
        let (answer, answered) = oneshot::channel();
        let start_reader = self.with_queue(|queue| {
            queue.waiting.push((id, answer));
            !std::mem::replace(&mut queue.reading, true)
        });
        if start_reader {
            // A task of its own, not the caller's future: a caller whose
            // client hangs up must not strand the others' reads. Local, so
            // it stays on this thread with its queue.
            actix_web::rt::spawn(self.clone().read_while_waiting());
        }
        answered
            .await
            .map_err(|_| ApiError::internal("the session reader stopped"))?
    }

    fn with_queue<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        // Never borrowed across an await, so never borrowed twice.
        f(&mut self.queues.get_or_default().borrow_mut())
    }

    /// Reads batches until nobody on this thread is waiting.
    async fn read_while_waiting(self) {
        let mut reset = ResetUnlessDone {
            reads: &self,
            done: false,
        };
        loop {
            let batch: Vec<_> = match self.with_queue(|queue| {
                if queue.waiting.is_empty() {
                    queue.reading = false;
                    return None;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                Some(queue.waiting.drain(..take).collect())
            }) {
                Some(batch) => batch,
                None => break,
            };
            let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            self.reads.fetch_add(1, Ordering::Relaxed);
            let read = self
                .db
                .read_with_failover(Module::Session, "sessions.get_for_token", move |conn| {
                    store::find_sessions(conn, &ids).map_err(ApiError::from)
                })
                .await;
            answer(batch, read);
        }
        reset.done = true;
    }
}

/// Hands each waiter its row (or the batch's error).
fn answer(batch: Vec<(String, oneshot::Sender<Answer>)>, read: Result<Vec<SessionRow>, ApiError>) {
    match read {
        Ok(rows) => {
            let rows: HashMap<String, SessionRow> =
                rows.into_iter().map(|row| (row.id.clone(), row)).collect();
            for (id, waiter) in batch {
                // Cloned: the same session may be asked for twice in a batch.
                let _hung_up = waiter.send(Ok(rows.get(&id).cloned()));
            }
        }
        Err(error) => {
            for (_, waiter) in batch {
                let _hung_up = waiter.send(Err(error.clone()));
            }
        }
    }
}

/// If a reader ends before its queue is empty (a panic, or the runtime
/// shutting down), its waiters are answered with an error (their senders
/// are dropped) and the next read on the thread starts a new reader.
struct ResetUnlessDone<'a> {
    reads: &'a TokenSessionReads,
    done: bool,
}

impl Drop for ResetUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.reads.with_queue(|queue| {
                queue.reading = false;
                queue.waiting.clear();
            });
        }
    }
}
