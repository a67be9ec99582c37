//! The users module's retention job: credential checks (appended on every
//! password or code check, read only for the lockout window) older than
//! `retention.credential_checks` are deleted. Idempotent, so it runs with
//! the other areas' jobs in every process that runs jobs.

use std::sync::Arc;

use diesel::prelude::*;

use super::service::pool;
use crate::db::schema::credential_checks;
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::state::AppState;
use crate::time::now_ms;

/// Rows deleted per statement, so no delete holds locks for long.
const TRIM_BATCH: i64 = 10_000;

/// Runs [`trim_credential_checks`] every `retention.trim_interval`.
pub async fn trim_old_checks(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.settings.retention.trim_interval);
    loop {
        ticker.tick().await;
        let age = state.settings.retention.credential_checks;
        let cutoff = now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 4);
        let trimmed = pool(&state)
            .run("credential_checks.trim", move |conn| {
                trim_credential_checks(conn, cutoff).map_err(ApiError::from)
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

/// Deletes credential checks older than `cutoff` (Unix ms), in batches
/// (ids first, then a delete by primary key); returns how many.
pub fn trim_credential_checks(conn: &mut DbConnection, cutoff: i64) -> QueryResult<usize> {
    let mut deleted = 0;
    loop {
        let ids: Vec<String> = credential_checks::table
            .filter(credential_checks::created_at.lt(cutoff))
            .select(credential_checks::id)
            .limit(TRIM_BATCH)
            .load(conn)?;
        deleted +=
            diesel::delete(credential_checks::table.filter(credential_checks::id.eq_any(&ids)))
                .execute(conn)?;
        if (ids.len() as i64) < TRIM_BATCH {
            return Ok(deleted);
        }
    }
}
