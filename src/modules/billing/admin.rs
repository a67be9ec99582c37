//! What an administrator does to a subscription item through the Backend
//! API: cancel it (at the end of its period or trial, or now) and extend
//! a running free trial. Each runs in one transaction with the item row
//! locked, so a cancel and an extension sent together apply one after the
//! other, and the lifecycle job, which locks the same row to apply a
//! charge, sees either the state before or after.

use chrono::DateTime;

use super::lifecycle;
use super::subscriptions::model::{status, ItemRow};
use super::subscriptions::objects::{self, ItemObject};
use super::subscriptions::store;
use super::{pool, BillingState};
use crate::db::{write_transaction, DbConnection};
use crate::http::ApiError;
use crate::state::AppState;

/// The furthest a trial can be extended past its current end.
pub const MAX_EXTENSION_MS: i64 = 365 * 86_400_000;

fn not_found() -> ApiError {
    ApiError::not_found("subscription item")
}

fn object(
    conn: &mut DbConnection,
    instance_id: &str,
    item: &ItemRow,
) -> Result<ItemObject, ApiError> {
    let mut objects = objects::item_objects(conn, instance_id, std::slice::from_ref(item), false)?;
    objects.pop().ok_or_else(not_found)
}

/// `DELETE /v1/billing/subscription_items/{id}`: without `end_now`, the
/// item is canceled and runs to the end of its period (during a trial:
/// until the trial ends, and nobody is charged); with it, the item ends
/// now and the payer goes back to the default plan. A past-due item has
/// no paid period left, so it ends now either way.
pub async fn cancel(state: &AppState, id: String, end_now: bool) -> Result<ItemObject, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let instance_id = state.instance.id.clone();
    let item = pool(state)
        .run("billing.items.cancel", move |conn| {
            write_transaction(conn, |conn| {
                let mut item = store::lock_item(conn, &id)?.ok_or_else(not_found)?;
                if !item.is_current() {
                    return Err(ApiError::param_value(
                        "subscription_item_id",
                        "This subscription item has already ended.",
                    ));
                }
                if item.period_end.is_none() {
                    return Err(ApiError::param_value(
                        "subscription_item_id",
                        "The default plan cannot be canceled.",
                    ));
                }
                if end_now || item.status == status::PAST_DUE {
                    item.canceled_at = item.canceled_at.or(Some(now));
                    lifecycle::end_to_default(conn, &instance_id, &mut item, now)?;
                } else if item.status == status::ACTIVE {
                    item.status = status::CANCELED.to_owned();
                    item.canceled_at = Some(now);
                    item.next_charge_at = None;
                    item.updated_at = now;
                    store::save_item(conn, &item)?;
                    lifecycle::record_item_event(
                        conn,
                        &instance_id,
                        "subscriptionItem.canceled",
                        &item,
                        now,
                    )?;
                }
                object(conn, &instance_id, &item)
            })
        })
        .await?;
    // An item ended now puts the payer on the default plan: their next
    // token shows it.
    super::push::deliver_soon(state).await;
    Ok(item)
}

/// The instant of an `extend_to` value: RFC 3339, fractional seconds
/// allowed (`Date.toJSON()` sends milliseconds).
pub fn parse_extend_to(text: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.timestamp_millis())
        .map_err(|_| {
            ApiError::param_format(
                "extend_to",
                "extend_to must be an RFC 3339 date-time, e.g. 2026-12-20T00:00:00.000Z.",
            )
        })
}

/// `POST /v1/billing/subscription_items/{id}/extend_free_trial`: moves the
/// end of a running trial to `extend_to` (later than now and than the
/// current end, at most 365 days past it). The trial-ending notice is
/// sent again for the new end. Asking for the current end again changes
/// nothing.
pub async fn extend_trial(
    state: &AppState,
    id: String,
    extend_to: i64,
) -> Result<ItemObject, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.items.extend_trial", move |conn| {
            write_transaction(conn, |conn| {
                let mut item = store::lock_item(conn, &id)?.ok_or_else(not_found)?;
                let trial_end = item
                    .period_end
                    .filter(|end| item.is_free_trial && item.is_current() && *end > now)
                    .ok_or_else(|| {
                        ApiError::param_value(
                            "subscription_item_id",
                            "This subscription item is not in a free trial.",
                        )
                    })?;
                if extend_to == trial_end {
                    return object(conn, &instance_id, &item);
                }
                if extend_to <= now || extend_to < trial_end {
                    return Err(ApiError::param_value(
                        "extend_to",
                        "extend_to must be in the future and later than the current end of the trial.",
                    ));
                }
                if extend_to - trial_end > MAX_EXTENSION_MS {
                    return Err(ApiError::param_value(
                        "extend_to",
                        "A trial can be extended by at most 365 days past its current end.",
                    ));
                }
                item.period_end = Some(extend_to);
                item.trial_notice_sent_at = None;
                item.updated_at = now;
                store::save_item(conn, &item)?;
                lifecycle::record_item_event(
                    conn,
                    &instance_id,
                    "subscriptionItem.updated",
                    &item,
                    now,
                )?;
                object(conn, &instance_id, &item)
            })
        })
        .await
}
