//! A transactional outbox: how an area pushes what another area keeps a
//! copy of, so the receiver never reads the owner's database.
//!
//! The owning area writes an `outbox` row with [`enqueue`] in the same
//! transaction as the change it describes: the row exists if and only if
//! the change committed. A dispatcher ([`dispatch`]) delivers waiting rows,
//! oldest first, to the receiving area's [`Receiver`], and marks them
//! delivered only after the receiver's transaction committed; while the
//! receiving database is down it retries with a growing delay, and nothing
//! is lost. A crash between the two commits, or two processes delivering
//! the same rows at once, delivers a row twice: receivers apply by
//! `(entity, version)` and ignore what is not newer than their copy, so a
//! repeated or stale delivery changes nothing.
//!
//! Every row of one `(topic, entity)` carries the next value of a counter
//! locked by the writing transaction ([`enqueue`]), so versions follow the
//! order in which the changes committed, and the payload, computed after
//! the lock was taken, is at least as new as any earlier version's.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;

mod backfill;
pub use backfill::{backfill_once, Backfill};

use crate::db::schema::{outbox, outbox_versions};
use crate::db::{on_backend, write_transaction, DbConnection, DbPool};
use crate::http::ApiError;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// Rows delivered per round trip to each database.
const BATCH: i64 = 200;
/// Longest wait between delivery attempts while the receiver is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long delivered rows are kept, for inspection, before trimming.
const DELIVERED_RETENTION_MS: i64 = 60 * 60 * 1000;

/// One row waiting for delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Message {
    pub seq: i64,
    pub topic: String,
    pub entity: String,
    pub version: i64,
    pub payload: String,
    pub created_at: i64,
}

/// Writes a row for `(topic, entity)` in the caller's transaction. The
/// entity's next version is taken (and, on PostgreSQL, its counter row
/// locked until the transaction ends) before `payload` is computed, so the
/// payload sees every change of an earlier version. Callers that enqueue
/// several entities do so in a stable order (sorted), so that two
/// transactions cannot wait on each other's counters.
pub fn enqueue<P, F>(
    conn: &mut DbConnection,
    topic: &'static str,
    entity: &str,
    payload: F,
) -> Result<(), ApiError>
where
    P: Serialize,
    F: FnOnce(&mut DbConnection) -> Result<P, ApiError>,
{
    let version = next_version(conn, topic, entity)?;
    let payload = serde_json::to_string(&payload(conn)?).map_err(ApiError::internal)?;
    diesel::insert_into(outbox::table)
        .values((
            outbox::topic.eq(topic),
            outbox::entity.eq(entity),
            outbox::version.eq(version),
            outbox::payload.eq(payload),
            outbox::created_at.eq(now_ms()),
        ))
        .execute(conn)?;
    metrics::counter!("steward_outbox_written_total", "topic" => topic).increment(1);
    Ok(())
}

fn next_version(conn: &mut DbConnection, topic: &str, entity: &str) -> QueryResult<i64> {
    // An upsert, which the multi-backend connection cannot express.
    on_backend!(conn, c => diesel::insert_into(outbox_versions::table)
        .values((
            outbox_versions::topic.eq(topic),
            outbox_versions::entity.eq(entity),
            outbox_versions::version.eq(1_i64),
        ))
        .on_conflict((outbox_versions::topic, outbox_versions::entity))
        .do_update()
        .set(outbox_versions::version.eq(outbox_versions::version + 1_i64))
        .returning(outbox_versions::version)
        .get_result(c))
}

/// What a receiving area does with the rows of its topics.
pub trait Receiver: Send + Sync + 'static {
    /// The topics it takes.
    fn topics(&self) -> &'static [&'static str];

    /// The database that holds its copy.
    fn database(&self, state: &AppState) -> DbPool;

    /// Applies `message` inside the batch's transaction on
    /// [`Receiver::database`]; `Ok(true)` when it changed the copy,
    /// `Ok(false)` when the copy already had this version or a newer one.
    fn apply(&self, conn: &mut DbConnection, message: &Message) -> Result<bool, ApiError>;

    /// Runs in this process once the batch committed, for each message
    /// that changed the copy (to drop what this process cached).
    fn applied(&self, state: &AppState, message: &Message);
}

/// Delivers every row waiting in `source` for `receiver`, in order, and
/// trims delivered rows; returns how many were delivered. Stops at the
/// first error (the rest waits for the next call); an error never loses a
/// row, because rows are marked delivered only after the receiver
/// committed them.
pub async fn deliver(
    state: &AppState,
    source: &DbPool,
    receiver: &'static dyn Receiver,
) -> Result<usize, ApiError> {
    let topics = receiver.topics();
    let target = receiver.database(state);
    let mut delivered = 0;
    loop {
        let batch = source
            .run("outbox.pending", move |conn| {
                outbox::table
                    .filter(outbox::delivered_at.is_null())
                    .filter(outbox::topic.eq_any(topics))
                    .order(outbox::seq)
                    .limit(BATCH)
                    .select(Message::as_select())
                    .load(conn)
                    .map_err(ApiError::from)
            })
            .await?;
        if batch.is_empty() {
            break;
        }
        // By entity, each in version order: two deliveries overlapping on
        // PostgreSQL then lock the receiver's rows in the same order and
        // cannot deadlock.
        let mut batch = batch;
        batch.sort_by(|a, b| {
            (&a.topic, &a.entity, a.version).cmp(&(&b.topic, &b.entity, b.version))
        });
        let attempt = Arc::new(batch);
        let applying = attempt.clone();
        let changed = target
            .run("outbox.apply", move |conn| {
                write_transaction(conn, |conn| {
                    applying
                        .iter()
                        .map(|message| receiver.apply(conn, message))
                        .collect::<Result<Vec<bool>, ApiError>>()
                })
            })
            .await?;
        for (message, changed) in attempt.iter().zip(changed) {
            if changed {
                receiver.applied(state, message);
            }
            metrics::counter!(
                "steward_outbox_delivered_total",
                "topic" => message.topic.clone(),
                "outcome" => if changed { "applied" } else { "already_applied" },
            )
            .increment(1);
        }
        let seqs: Vec<i64> = attempt.iter().map(|message| message.seq).collect();
        let count = seqs.len();
        source
            .run("outbox.mark_delivered", move |conn| {
                diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
                    .set(outbox::delivered_at.eq(now_ms()))
                    .execute(conn)
                    .map_err(ApiError::from)
            })
            .await?;
        delivered += count;
        if i64::try_from(count).unwrap_or(BATCH) < BATCH {
            break;
        }
    }
    source
        .run("outbox.trim", |conn| {
            diesel::delete(
                outbox::table.filter(outbox::delivered_at.lt(now_ms() - DELIVERED_RETENTION_MS)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    Ok(delivered)
}

/// Publishes how many rows wait in `source` for `receiver` and how old the
/// oldest is (`steward_outbox_depth`, `steward_outbox_lag_seconds`, by
/// source database and topic).
async fn report_depth(source: &DbPool, receiver: &'static dyn Receiver) -> Result<(), ApiError> {
    let topics = receiver.topics();
    let (depth, oldest) = source
        .run("outbox.depth", move |conn| {
            let waiting = outbox::table
                .filter(outbox::delivered_at.is_null())
                .filter(outbox::topic.eq_any(topics));
            let depth: i64 = waiting.clone().count().get_result(conn)?;
            let oldest: Option<i64> = waiting
                .select(diesel::dsl::min(outbox::created_at))
                .get_result(conn)?;
            Ok::<_, ApiError>((depth, oldest))
        })
        .await?;
    let lag_ms = oldest.map_or(0, |created| (now_ms() - created).max(0));
    let topic = topics.first().copied().unwrap_or_default();
    metrics::gauge!("steward_outbox_depth", "source" => source.label(), "topic" => topic)
        .set(depth as f64);
    metrics::gauge!("steward_outbox_lag_seconds", "source" => source.label(), "topic" => topic)
        .set(lag_ms as f64 / 1000.0);
    Ok(())
}

/// Delivers `source` module's outbox to `receiver` every
/// `spool.replay_interval`, and after a failure with a delay that doubles
/// up to half a minute, until the process stops. `backfill` is written to
/// the outbox first, once per database ([`backfill_once`]). Every process
/// whose role includes the contributing module, and the worker, runs one:
/// deliveries are idempotent, so they may overlap.
pub async fn dispatch(
    state: Arc<AppState>,
    source: Module,
    receiver: &'static dyn Receiver,
    backfill: Backfill,
) {
    let interval = state.settings.spool.replay_interval;
    let mut delay = Duration::ZERO;
    let mut backfilled = false;
    loop {
        tokio::time::sleep(delay).await;
        let pool = state.db.for_module(source).clone();
        if !backfilled {
            match backfill_once(&pool, &backfill).await {
                Ok(()) => backfilled = true,
                Err(error) => {
                    tracing::warn!(%error, name = backfill.name, "outbox backfill failed; retrying");
                    delay = (delay * 2).clamp(interval, MAX_BACKOFF);
                    continue;
                }
            }
        }
        match deliver(&state, &pool, receiver).await {
            Ok(_) => delay = interval,
            Err(error) => {
                tracing::warn!(%error, source = source.name(), "outbox delivery failed; retrying");
                delay = (delay * 2).clamp(interval, MAX_BACKOFF);
            }
        }
        if let Err(error) = report_depth(&pool, receiver).await {
            tracing::debug!(%error, "reading the outbox depth failed");
        }
    }
}
