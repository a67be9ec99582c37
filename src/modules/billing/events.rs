//! The append-only billing event log: every lifecycle change under the
//! name Clerk's webhooks give it (`subscription.created`,
//! `subscriptionItem.active`, `subscriptionItem.freeTrialEnding`,
//! `paymentAttempt.updated`, …), with the object as it was then. Written
//! in the transaction of the change, so the log has an event if and only
//! if the change committed; ready for outgoing webhooks to deliver in
//! `seq` order.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::billing_events;
use crate::db::DbConnection;

/// Records `event_type` for `object_id` with `payload`.
pub fn record<P: Serialize>(
    conn: &mut DbConnection,
    event_type: &str,
    object_id: &str,
    payload: &P,
    now: i64,
) -> QueryResult<()> {
    let payload = serde_json::to_string(payload)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(billing_events::table)
        .values((
            billing_events::id.eq(crate::crypto::ids::new_id("evt")),
            billing_events::event_type.eq(event_type),
            billing_events::object_id.eq(object_id),
            billing_events::payload.eq(payload),
            billing_events::occurred_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// One recorded event.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = billing_events)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub object_id: String,
    pub payload: String,
    pub occurred_at: i64,
}

/// The events of `object_id`, oldest first.
pub fn of_object(conn: &mut DbConnection, object_id: &str) -> QueryResult<Vec<EventRow>> {
    billing_events::table
        .filter(billing_events::object_id.eq(object_id))
        .order(billing_events::seq)
        .select(EventRow::as_select())
        .load(conn)
}
