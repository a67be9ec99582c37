//! Token issuance records: queued in memory when a token is signed and
//! inserted in batches by a background task, so signing never waits for a
//! database write.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use tokio::sync::mpsc;

use super::{record, spool_off_thread, try_database, SessionWrite};
use crate::db::schema::session_token_issuances;
use crate::db::{on_backend, DbConnection};
use crate::http::ApiError;
use crate::state::AppState;

/// Records inserted per statement.
const ISSUANCE_BATCH: usize = 512;

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

pub(super) fn insert_issuances(
    conn: &mut DbConnection,
    writes: &[SessionWrite],
) -> QueryResult<usize> {
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
