//! The state changes of a subscription item after it started: a charge's
//! outcome applied to it (paid → a new period, failed → past due, too
//! many failures → ended), and ending it with the payer back on the
//! default plan. The lifecycle job, Stripe's webhook and the Backend API
//! all change items through here, each inside its own transaction with the
//! item row locked, so every change records its events with it and two of
//! them cannot interleave on one item.

use diesel::prelude::*;
use serde::Serialize;

use super::charges::AttemptRow;
use super::events;
use super::payers::{self, PayerObject};
use super::schema::billing_payers;
use super::settings::BillingSettings;
use super::subscriptions::model::{status, ItemRow, SubscriptionRow};
use super::subscriptions::objects::{self, ItemObject, SubscriptionObject};
use super::subscriptions::store;
use crate::db::DbConnection;
use crate::http::ApiError;

/// The end of a period of `plan_period` (`month` or `annual`) that starts
/// at `start`: the same day of the next month or year, clamped to the end
/// of a shorter month, as a checkout's first period ends.
pub fn period_end(start: i64, plan_period: &str) -> i64 {
    let months = if plan_period == "annual" { 12 } else { 1 };
    super::checkout::add_months(start, months)
}

/// The subscription `id`.
fn subscription_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<SubscriptionRow> {
    use super::schema::billing_subscriptions;
    billing_subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
}

/// A standalone item event: the item object with its payer, plus the two
/// fields Clerk's webhook payload names differently or only there.
#[derive(Serialize)]
struct ItemEvent {
    #[serde(flatten)]
    item: ItemObject,
    interval: String,
    subscription_id: String,
}

/// Records `event_type` for `item` with the item object as it is now.
pub fn record_item_event(
    conn: &mut DbConnection,
    instance_id: &str,
    event_type: &str,
    item: &ItemRow,
    now: i64,
) -> QueryResult<()> {
    let mut objects = objects::item_objects(conn, instance_id, std::slice::from_ref(item), true)?;
    let event = ItemEvent {
        item: objects.remove(0),
        interval: item.plan_period.clone(),
        subscription_id: item.subscription_id.clone(),
    };
    events::record(conn, event_type, &item.id, &event, now)
}

/// The event payload of a subscription: Clerk's webhook object with its
/// payer.
#[derive(Serialize)]
struct SubscriptionEvent {
    #[serde(flatten)]
    subscription: SubscriptionObject,
    payer: PayerObject,
}

/// Recomputes the subscription's status from its items and, when it
/// changed, records `subscription.active` or `subscription.pastDue`.
pub fn refresh_subscription(
    conn: &mut DbConnection,
    instance_id: &str,
    subscription_id: &str,
    now: i64,
) -> Result<SubscriptionRow, ApiError> {
    let before = subscription_by_id(conn, subscription_id)?;
    let after = store::refresh_subscription(conn, subscription_id, now)?;
    if before.status != after.status {
        let payer = payers::get(conn, &after.payer_id)?;
        let event = SubscriptionEvent {
            subscription: objects::subscription_object(conn, instance_id, &payer, &after)?,
            payer: PayerObject::new(&payer, instance_id),
        };
        let event_type = if after.status == status::PAST_DUE {
            "subscription.pastDue"
        } else {
            "subscription.active"
        };
        events::record(conn, event_type, &after.id, &event, now)?;
        events::record(conn, "subscription.updated", &after.id, &event, now)?;
    }
    Ok(after)
}

/// Ends `item` now and puts its payer on the default plan (when one is
/// set), recording `subscriptionItem.ended` and the new item's
/// `subscriptionItem.active`.
pub fn end_to_default(
    conn: &mut DbConnection,
    instance_id: &str,
    item: &mut ItemRow,
    now: i64,
) -> Result<Option<ItemRow>, ApiError> {
    store::end_item(conn, item, now)?;
    record_item_event(conn, instance_id, "subscriptionItem.ended", item, now)?;
    let payer = payers::get(conn, &item.payer_id)?;
    let subscription = subscription_by_id(conn, &item.subscription_id)?;
    let default = store::start_default_item(conn, &payer, &subscription, now)?;
    if let Some(default) = &default {
        record_item_event(conn, instance_id, "subscriptionItem.active", default, now)?;
    }
    refresh_subscription(conn, instance_id, &item.subscription_id, now)?;
    Ok(default)
}

/// Whether `attempt` charged for the period `item` is due for now: the
/// item has not moved on (another process applied the outcome, an admin
/// ended it) since the charge was made.
pub fn attempt_matches(item: &ItemRow, attempt: &AttemptRow) -> bool {
    let key = super::charges::idempotency_key(item, item.period_end.unwrap_or_default());
    item.is_current() && attempt.idempotency_key == key
}

/// What applying an outcome did, for the job's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Paid: a new period started.
    Renewed,
    /// Failed, retries left: past due.
    PastDue,
    /// Failed for the last time (or canceled meanwhile): ended, default
    /// plan.
    Ended,
    /// The item had moved on; nothing changed.
    Stale,
}

/// Applies a settled attempt to its item, which the caller has locked
/// ([`store::lock_item`]) in this transaction.
pub fn apply_settled(
    conn: &mut DbConnection,
    instance_id: &str,
    settings: &BillingSettings,
    item: &mut ItemRow,
    attempt: &AttemptRow,
    now: i64,
) -> Result<Applied, ApiError> {
    if !attempt_matches(item, attempt) {
        return Ok(Applied::Stale);
    }
    match attempt.status.as_str() {
        "paid" => apply_paid(conn, instance_id, item, now).map(|()| Applied::Renewed),
        "failed" => apply_failed(conn, instance_id, settings, item, now),
        _ => Ok(Applied::Stale),
    }
}

/// A paid period: the item is active on the next period (a canceled one
/// stays canceled: it was charged before the cancellation reached it, so
/// it runs to the end of what was paid).
fn apply_paid(
    conn: &mut DbConnection,
    instance_id: &str,
    item: &mut ItemRow,
    now: i64,
) -> Result<(), ApiError> {
    let start = item.period_end.unwrap_or(now);
    let recovered = item.status == status::PAST_DUE || item.is_free_trial;
    if item.status == status::PAST_DUE {
        item.status = status::ACTIVE.to_owned();
    }
    item.is_free_trial = false;
    item.period_start = start;
    item.period_end = Some(period_end(start, &item.plan_period));
    item.past_due_at = None;
    item.charge_failures = 0;
    item.next_charge_at = None;
    item.claimed_until = None;
    item.updated_at = now;
    store::save_item(conn, item)?;
    diesel::update(
        billing_payers::table
            .find(&item.payer_id)
            .filter(billing_payers::first_paid_at.is_null()),
    )
    .set((
        billing_payers::first_paid_at.eq(now),
        billing_payers::updated_at.eq(now),
    ))
    .execute(conn)?;
    let event = if recovered && item.status == status::ACTIVE {
        "subscriptionItem.active"
    } else {
        "subscriptionItem.updated"
    };
    record_item_event(conn, instance_id, event, item, now)?;
    refresh_subscription(conn, instance_id, &item.subscription_id, now)?;
    Ok(())
}

/// A refused charge: past due with a retry later, or, after the last
/// allowed failure (or when the item was canceled meanwhile), ended.
fn apply_failed(
    conn: &mut DbConnection,
    instance_id: &str,
    settings: &BillingSettings,
    item: &mut ItemRow,
    now: i64,
) -> Result<Applied, ApiError> {
    let failures = item.charge_failures + 1;
    if failures >= settings.max_charge_attempts || item.status == status::CANCELED {
        item.charge_failures = failures;
        end_to_default(conn, instance_id, item, now)?;
        return Ok(Applied::Ended);
    }
    item.status = status::PAST_DUE.to_owned();
    item.is_free_trial = false;
    item.past_due_at = item.past_due_at.or(Some(now));
    item.charge_failures = failures;
    item.next_charge_at = Some(now + settings.charge_retry_hours * 3_600_000);
    item.claimed_until = None;
    item.updated_at = now;
    store::save_item(conn, item)?;
    record_item_event(conn, instance_id, "subscriptionItem.pastDue", item, now)?;
    refresh_subscription(conn, instance_id, &item.subscription_id, now)?;
    Ok(Applied::PastDue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn periods_end_on_the_same_day_next_month_or_year() {
        assert_eq!(
            period_end(at("2026-01-15T10:00:00Z"), "month"),
            at("2026-02-15T10:00:00Z")
        );
        assert_eq!(
            period_end(at("2026-01-31T00:00:00Z"), "month"),
            at("2026-02-28T00:00:00Z")
        );
        assert_eq!(
            period_end(at("2026-03-01T00:00:00Z"), "annual"),
            at("2027-03-01T00:00:00Z")
        );
    }
}
