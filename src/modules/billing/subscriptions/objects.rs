//! Clerk's `commerce_subscription` and `commerce_subscription_item`
//! objects, built from the rows. Every field @clerk/backend reads is sent
//! (null rather than absent), and optional objects are sent whole or not at
//! all: the SDK throws on a partial one.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::model::{status, ItemRow, SubscriptionRow};
use super::store;
use crate::db::DbConnection;
use crate::modules::billing::money::Money;
use crate::modules::billing::payers::{self, PayerObject, PayerRow};
use crate::modules::billing::payment_methods::{self, PaymentMethodObject};
use crate::modules::billing::plans::model::PlanObject;
use crate::modules::billing::plans::store as plans;
use crate::modules::billing::schema::billing_payment_attempts;

/// `{amount, date}` of the next charge.
#[derive(Debug, Clone, Serialize)]
pub struct NextPayment {
    pub amount: Money,
    pub date: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemObject {
    pub object: &'static str,
    pub id: String,
    pub instance_id: String,
    pub status: String,
    pub plan_id: String,
    pub price_id: Option<String>,
    pub plan: Option<PlanObject>,
    pub plan_period: String,
    pub payment_method_id: Option<String>,
    pub payment_method: Option<PaymentMethodObject>,
    pub amount: Money,
    pub lifetime_paid: Money,
    pub next_payment: Option<NextPayment>,
    pub payer_id: String,
    pub payer: Option<PayerObject>,
    pub is_free_trial: bool,
    pub period_start: i64,
    pub period_end: Option<i64>,
    pub canceled_at: Option<i64>,
    pub past_due_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionObject {
    pub object: &'static str,
    pub id: String,
    pub instance_id: String,
    pub status: String,
    pub payer_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub active_at: Option<i64>,
    pub past_due_at: Option<i64>,
    pub subscription_items: Vec<ItemObject>,
    /// Left out when nothing renews: Clerk's Backend API spec has it
    /// optional but not nullable (the SDKs read a missing one as null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_payment: Option<NextPayment>,
    pub eligible_for_free_trial: bool,
}

/// What an item renews at next, if it renews: the end of its trial or
/// period, for its fee, unless it is canceled, ended or free.
pub fn next_payment(item: &ItemRow) -> Option<NextPayment> {
    let renews = item.status == status::ACTIVE || item.status == status::PAST_DUE;
    let date = match item.status.as_str() {
        status::PAST_DUE => item.next_charge_at.or(item.period_end),
        _ => item.period_end,
    }?;
    (renews && item.amount > 0).then(|| NextPayment {
        amount: Money::new(item.amount, &item.currency),
        date,
    })
}

/// Builds the objects of `items`, reading their plans, cards, payer and
/// what each has been paid in a few queries.
pub fn item_objects(
    conn: &mut DbConnection,
    instance_id: &str,
    items: &[ItemRow],
    with_payer: bool,
) -> QueryResult<Vec<ItemObject>> {
    let mut plans_by_id = HashMap::new();
    let mut payers_by_id: HashMap<String, PayerRow> = HashMap::new();
    let mut objects = Vec::with_capacity(items.len());
    for item in items {
        if !plans_by_id.contains_key(&item.plan_id) {
            let plan = plans::find(conn, &item.plan_id)?;
            plans_by_id.insert(item.plan_id.clone(), plan);
        }
        if !payers_by_id.contains_key(&item.payer_id) {
            payers_by_id.insert(item.payer_id.clone(), payers::get(conn, &item.payer_id)?);
        }
        let payer = &payers_by_id[&item.payer_id];
        // Summed here: SUM of a BIGINT is NUMERIC on PostgreSQL.
        let paid: i64 = billing_payment_attempts::table
            .filter(billing_payment_attempts::subscription_item_id.eq(&item.id))
            .filter(billing_payment_attempts::status.eq("paid"))
            .select(billing_payment_attempts::amount)
            .load::<i64>(conn)?
            .into_iter()
            .sum();
        let payment_method = match &item.payment_method_id {
            Some(id) => payment_methods::find(conn, id)?.map(|row| {
                PaymentMethodObject::new(&row, payer.default_payment_method_id.as_deref(), false)
            }),
            None => None,
        };
        objects.push(ItemObject {
            object: "commerce_subscription_item",
            id: item.id.clone(),
            instance_id: instance_id.to_owned(),
            status: item.status.clone(),
            plan_id: item.plan_id.clone(),
            price_id: None,
            plan: plans_by_id[&item.plan_id].as_ref().map(PlanObject::from),
            plan_period: item.plan_period.clone(),
            payment_method_id: item.payment_method_id.clone(),
            payment_method,
            amount: Money::new(item.amount, &item.currency),
            lifetime_paid: Money::new(paid, &item.currency),
            next_payment: next_payment(item),
            payer_id: item.payer_id.clone(),
            payer: with_payer.then(|| PayerObject::new(payer, instance_id)),
            is_free_trial: item.is_free_trial,
            period_start: item.period_start,
            period_end: item.period_end,
            canceled_at: item.canceled_at,
            past_due_at: item.past_due_at,
            ended_at: item.ended_at,
            created_at: item.created_at,
            updated_at: item.updated_at,
        });
    }
    Ok(objects)
}

/// The subscription object: its items newest first (ended ones too, as
/// Clerk lists them), the next charge of its current item, and whether the
/// payer could still take a free trial.
pub fn subscription_object(
    conn: &mut DbConnection,
    instance_id: &str,
    payer: &PayerRow,
    subscription: &SubscriptionRow,
) -> QueryResult<SubscriptionObject> {
    let items = store::items_of(conn, &subscription.id)?;
    let next = items
        .iter()
        .find(|item| item.is_current())
        .and_then(next_payment);
    Ok(SubscriptionObject {
        object: "commerce_subscription",
        id: subscription.id.clone(),
        instance_id: instance_id.to_owned(),
        status: subscription.status.clone(),
        payer_id: subscription.payer_id.clone(),
        created_at: subscription.created_at,
        updated_at: subscription.updated_at,
        active_at: subscription.active_at,
        past_due_at: subscription.past_due_at,
        subscription_items: item_objects(conn, instance_id, &items, false)?,
        next_payment: next,
        eligible_for_free_trial: payer.eligible_for_free_trial(),
    })
}
