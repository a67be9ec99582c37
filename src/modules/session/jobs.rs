//! Background jobs over the append-only session tables: compaction brings
//! `sessions.last_active_at` and `abandon_at` up to date from
//! `session_activity` (touches insert, never update), and the trim deletes
//! rows older than their `retention.*` age. Both are idempotent, so every
//! process that serves the session module may run them.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::model::status;
use crate::db::schema::{session_activity, session_events, session_token_issuances, sessions};
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::state::AppState;
use crate::time::now_ms;

/// Sessions updated per compaction statement batch.
const COMPACTION_BATCH: usize = 500;
/// Rows deleted per trim statement, so no delete holds locks for long.
const TRIM_BATCH: i64 = 10_000;
/// The first compaction after start looks this far back (touches made while
/// no process compacted); later ones look back a few intervals.
const FIRST_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Runs [`compact`] every `retention.compaction_interval`.
pub async fn compact_activity(state: Arc<AppState>) {
    let interval = state.settings.retention.compaction_interval;
    let mut lookback = FIRST_LOOKBACK;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let inactivity = ms(state.settings.session.inactivity_timeout);
        let since = now_ms() - ms(lookback);
        let outcome = super::service::pool(&state)
            .run("sessions.compact_activity", move |conn| {
                compact(conn, since, inactivity).map_err(ApiError::from)
            })
            .await;
        match outcome {
            Ok(updated) => {
                metrics::counter!("steward_job_rows_total", "job" => "compact_activity")
                    .increment(updated as u64);
                lookback = interval * 3 + Duration::from_secs(60);
            }
            Err(error) => tracing::warn!(%error, "activity compaction failed; retrying later"),
        }
    }
}

/// Moves the latest activity since `since` into the session rows; returns
/// how many sessions changed. `updated_at` is left alone: activity is not
/// part of a token, so it must not invalidate reusable tokens.
pub fn compact(conn: &mut DbConnection, since: i64, inactivity_ms: i64) -> QueryResult<usize> {
    let latest: Vec<(String, Option<i64>)> = session_activity::table
        .filter(session_activity::occurred_at.gt(since))
        .group_by(session_activity::session_id)
        .select((
            session_activity::session_id,
            diesel::dsl::max(session_activity::occurred_at),
        ))
        .load(conn)?;
    let latest: std::collections::HashMap<String, i64> = latest
        .into_iter()
        .filter_map(|(id, at)| Some((id, at?)))
        .collect();
    let ids: Vec<&String> = latest.keys().collect();
    let mut updated = 0;
    for chunk in ids.chunks(COMPACTION_BATCH) {
        let stale: Vec<(String, i64, i64)> = sessions::table
            .filter(sessions::id.eq_any(chunk))
            .filter(sessions::status.eq(status::ACTIVE))
            .select((sessions::id, sessions::last_active_at, sessions::expire_at))
            .load(conn)?;
        for (id, last_active_at, expire_at) in stale {
            let at = latest[&id];
            if at <= last_active_at {
                continue;
            }
            updated += diesel::update(sessions::table.find(&id))
                .set((
                    sessions::last_active_at.eq(at),
                    sessions::abandon_at.eq((at + inactivity_ms).min(expire_at)),
                ))
                .execute(conn)?;
        }
    }
    Ok(updated)
}

/// Runs [`trim_session_tables`] every `retention.trim_interval`.
pub async fn trim_old_rows(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.settings.retention.trim_interval);
    loop {
        ticker.tick().await;
        let retention = state.settings.retention.clone();
        let now = now_ms();
        let cutoffs = Cutoffs {
            session_activity: now - ms(retention.session_activity),
            token_issuances: now - ms(retention.token_issuances),
            session_events: now - ms(retention.session_events),
        };
        let trimmed = super::service::pool(&state)
            .run("sessions.trim", move |conn| {
                trim_session_tables(conn, &cutoffs).map_err(ApiError::from)
            })
            .await;
        match trimmed {
            Ok(rows) => {
                metrics::counter!("steward_job_rows_total", "job" => "trim").increment(rows as u64)
            }
            Err(error) => tracing::warn!(%error, "trimming old rows failed; retrying later"),
        }
    }
}

/// Rows older than these (Unix ms) are deleted.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub session_activity: i64,
    pub token_issuances: i64,
    pub session_events: i64,
}

/// Deletes the rows of `$table` whose `$time` is before `$cutoff`, at most
/// [`TRIM_BATCH`] per statement (ids first, then a delete by primary key,
/// which both backends run the same way); evaluates to how many.
macro_rules! trim_table {
    ($conn:expr, $table:ident, $time:ident, $cutoff:expr) => {{
        let mut deleted = 0;
        loop {
            let ids: Vec<String> = $table::table
                .filter($table::$time.lt($cutoff))
                .select($table::id)
                .limit(TRIM_BATCH)
                .load($conn)?;
            let n = diesel::delete($table::table.filter($table::id.eq_any(&ids))).execute($conn)?;
            deleted += n;
            if (ids.len() as i64) < TRIM_BATCH {
                break;
            }
        }
        deleted
    }};
}

/// Deletes old rows of the session module's append-only tables, and
/// deletions kept as long as session events; returns how many.
pub fn trim_session_tables(conn: &mut DbConnection, cutoffs: &Cutoffs) -> QueryResult<usize> {
    Ok(trim_table!(
        conn,
        session_activity,
        occurred_at,
        cutoffs.session_activity
    ) + trim_table!(
        conn,
        session_token_issuances,
        issued_at,
        cutoffs.token_issuances
    ) + trim_table!(conn, session_events, occurred_at, cutoffs.session_events)
        + super::store::trim_deleted_users(conn, cutoffs.session_events)?)
}
