//! One-time fills of a receiver's copy from data written before the outbox
//! existed. The owning area writes an outbox row for everything it has,
//! once per database, and the ordinary delivery takes it from there: the
//! same path whether or not the two areas share a database, and harmless
//! to repeat, since rows are applied by version.

use diesel::prelude::*;

use crate::db::schema::outbox_backfills;
use crate::db::{on_backend, write_transaction, DbConnection, DbPool};
use crate::http::ApiError;
use crate::time::now_ms;

/// A named fill: `write` enqueues the rows (see [`super::enqueue`]).
#[derive(Debug, Clone, Copy)]
pub struct Backfill {
    pub name: &'static str,
    pub write: fn(&mut DbConnection) -> Result<(), ApiError>,
}

/// Runs `fill` unless the database records it as done, and records it, in
/// one transaction: concurrent starts run it once (on PostgreSQL the second
/// insert of the name waits for the first transaction, then finds it).
pub async fn backfill_once(pool: &DbPool, fill: &Backfill) -> Result<(), ApiError> {
    let fill = *fill;
    let ran = pool
        .run("outbox.backfill", move |conn| {
            write_transaction(conn, |conn| {
                let claimed = on_backend!(conn, c => diesel::insert_into(outbox_backfills::table)
                    .values((
                        outbox_backfills::name.eq(fill.name),
                        outbox_backfills::done_at.eq(now_ms()),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c))?;
                if claimed == 0 {
                    return Ok(false);
                }
                (fill.write)(conn)?;
                Ok::<_, ApiError>(true)
            })
        })
        .await?;
    if ran {
        tracing::info!(name = fill.name, "outbox backfill written");
    }
    Ok(())
}
