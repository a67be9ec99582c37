//! Replay of the outage spool: writes made while the session database
//! could not be reached, applied in order once it is back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{apply, SessionWrite, SessionWrites};
use crate::db::Transient;
use crate::state::AppState;

/// How long a replayed ending is still checked in memory: a replica that
/// serves reads may not have caught up with the replay yet.
const REMEMBER_AFTER_REPLAY: Duration = Duration::from_secs(600);
/// Spooled writes replayed per database round trip.
const REPLAY_BATCH: i64 = 200;

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
    let pool = crate::modules::session::service::pool(state);
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
