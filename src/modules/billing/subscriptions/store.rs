//! Queries and state changes of subscriptions and their items. Every
//! change of an item's status records its event ([`super::super::events`])
//! in the same transaction.

use diesel::prelude::*;

use super::model::{status, ItemRow, SubscriptionRow};
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::billing::payers::PayerRow;
use crate::modules::billing::plans::model::Plan;
use crate::modules::billing::plans::store as plans;
use crate::modules::billing::schema::{billing_subscription_items, billing_subscriptions};

pub fn subscription_of(
    conn: &mut DbConnection,
    payer_id: &str,
) -> QueryResult<Option<SubscriptionRow>> {
    billing_subscriptions::table
        .filter(billing_subscriptions::payer_id.eq(payer_id))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()
}

/// A subscription's items, newest first.
pub fn items_of(conn: &mut DbConnection, subscription_id: &str) -> QueryResult<Vec<ItemRow>> {
    billing_subscription_items::table
        .filter(billing_subscription_items::subscription_id.eq(subscription_id))
        .order((
            billing_subscription_items::created_at.desc(),
            billing_subscription_items::id.desc(),
        ))
        .select(ItemRow::as_select())
        .load(conn)
}

/// The item the payer is on now (active, canceled or past due).
pub fn current_item(conn: &mut DbConnection, payer_id: &str) -> QueryResult<Option<ItemRow>> {
    billing_subscription_items::table
        .filter(billing_subscription_items::payer_id.eq(payer_id))
        .filter(billing_subscription_items::status.eq_any(status::CURRENT))
        .select(ItemRow::as_select())
        .first(conn)
        .optional()
}

pub fn item(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ItemRow>> {
    billing_subscription_items::table
        .find(id)
        .select(ItemRow::as_select())
        .first(conn)
        .optional()
}

/// The item `id`, locked until the transaction ends on PostgreSQL.
pub fn lock_item(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ItemRow>> {
    match conn {
        DbConnection::Pg(pg) => billing_subscription_items::table
            .find(id)
            .select(ItemRow::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => billing_subscription_items::table
            .find(id)
            .select(ItemRow::as_select())
            .first(sqlite)
            .optional(),
    }
}

pub fn save_item(conn: &mut DbConnection, item: &ItemRow) -> QueryResult<()> {
    diesel::update(billing_subscription_items::table.find(&item.id))
        .set(item)
        .execute(conn)?;
    Ok(())
}

/// The payer's subscription, made (active, with no item yet) if missing.
pub fn ensure_subscription(
    conn: &mut DbConnection,
    payer: &PayerRow,
    now: i64,
) -> QueryResult<SubscriptionRow> {
    if let Some(subscription) = subscription_of(conn, &payer.id)? {
        return Ok(subscription);
    }
    let row = SubscriptionRow {
        id: crate::crypto::ids::new_id("csub"),
        payer_id: payer.id.clone(),
        status: status::ACTIVE.to_owned(),
        active_at: Some(now),
        past_due_at: None,
        created_at: now,
        updated_at: now,
    };
    crate::db::on_backend!(conn, c => diesel::insert_into(billing_subscriptions::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    subscription_of(conn, &payer.id)?.ok_or(diesel::result::Error::NotFound)
}

/// What a new item starts with.
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    /// `active`, or `incomplete` for an item waiting for its first charge.
    pub status: &'a str,
    pub plan: &'a Plan,
    pub plan_period: &'a str,
    pub amount: i64,
    pub trial_days: Option<i32>,
    pub period_start: i64,
    pub period_end: Option<i64>,
    pub payment_method_id: Option<String>,
}

/// Inserts an item for the payer. For an active one, the caller has ended
/// the payer's current item first (one current item per payer is a
/// unique index, so a racing second start fails instead of doubling).
pub fn insert_item(
    conn: &mut DbConnection,
    subscription: &SubscriptionRow,
    new: NewItem<'_>,
    now: i64,
) -> QueryResult<ItemRow> {
    let row = ItemRow {
        id: crate::crypto::ids::new_id("csubi"),
        subscription_id: subscription.id.clone(),
        payer_id: subscription.payer_id.clone(),
        plan_id: new.plan.row.id.clone(),
        plan_period: new.plan_period.to_owned(),
        status: new.status.to_owned(),
        amount: new.amount,
        currency: new.plan.row.currency.clone(),
        is_free_trial: new.trial_days.is_some(),
        free_trial_days: new.trial_days,
        period_start: new.period_start,
        period_end: new.period_end,
        payment_method_id: new.payment_method_id,
        canceled_at: None,
        past_due_at: None,
        ended_at: None,
        trial_notice_sent_at: None,
        charge_failures: 0,
        next_charge_at: None,
        claimed_until: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(billing_subscription_items::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// Puts the payer on the default plan of their payer type, if there is
/// one, from `now` on; returns the new item.
pub fn start_default_item(
    conn: &mut DbConnection,
    payer: &PayerRow,
    subscription: &SubscriptionRow,
    now: i64,
) -> QueryResult<Option<ItemRow>> {
    let Some(plan) = plans::default_plan(conn, payer.payer_type())? else {
        return Ok(None);
    };
    insert_item(
        conn,
        subscription,
        NewItem {
            status: status::ACTIVE,
            plan: &plan,
            plan_period: "month",
            amount: 0,
            trial_days: None,
            period_start: now,
            period_end: None,
            payment_method_id: None,
        },
        now,
    )
    .map(Some)
}

/// Ends `item` now.
pub fn end_item(conn: &mut DbConnection, item: &mut ItemRow, now: i64) -> QueryResult<()> {
    item.status = status::ENDED.to_owned();
    item.ended_at = Some(now);
    item.next_charge_at = None;
    item.claimed_until = None;
    item.updated_at = now;
    save_item(conn, item)
}

/// Sets the subscription's status from its current item (past due while
/// the current item is, active otherwise) and pushes the payer's plan and
/// features to the session store: every change of a payer's items ends
/// here.
pub fn refresh_subscription(
    conn: &mut DbConnection,
    subscription_id: &str,
    now: i64,
) -> Result<SubscriptionRow, ApiError> {
    let items = items_of(conn, subscription_id)?;
    let past_due = items
        .iter()
        .find(|item| item.status == status::PAST_DUE)
        .and_then(|item| item.past_due_at);
    let (status, past_due_at) = match past_due {
        Some(at) => (status::PAST_DUE, Some(at)),
        None => (status::ACTIVE, None),
    };
    diesel::update(billing_subscriptions::table.find(subscription_id))
        .set((
            billing_subscriptions::status.eq(status),
            billing_subscriptions::past_due_at.eq(past_due_at),
            billing_subscriptions::updated_at.eq(now),
        ))
        .execute(conn)?;
    let subscription = billing_subscriptions::table
        .find(subscription_id)
        .select(SubscriptionRow::as_select())
        .first(conn)?;
    crate::modules::billing::push::payer_changed(conn, &subscription.payer_id)?;
    Ok(subscription)
}
