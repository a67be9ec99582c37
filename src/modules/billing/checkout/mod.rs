//! Checkouts: a payer picks a plan and period, sees what they would pay
//! (or the free trial they would get), and confirms. Confirming ends the
//! payer's current item and starts the new one: as a free trial when the
//! plan has one and the payer is eligible (checked again, under the
//! payer's lock, at confirmation), otherwise charged at once.
//!
//! A trial's terms are fixed when the checkout is made; a plan changed
//! later does not change them, and items keep the terms they started
//! with.

use diesel::prelude::*;
use serde::Serialize;

use super::charges::{self, ChargeType, Charged};
use super::money::Money;
use super::payers::{self, PayerObject, PayerRef, PayerRow};
use super::payment_methods::{self, PaymentMethodObject, PaymentMethodRow};
use super::plans::model::{Plan, PlanObject, PlanPeriod};
use super::plans::store as plans;
use super::schema::{billing_checkouts, billing_payers};
use super::subscriptions::model::{status, ItemRow};
use super::subscriptions::objects::{item_objects, ItemObject};
use super::subscriptions::service::ensure_payer;
use super::subscriptions::store::{self, NewItem};
use super::{pool, BillingState};
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;

mod confirm;
pub use confirm::confirm;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a checkout can be confirmed.
const CHECKOUT_LIFETIME_MS: i64 = 60 * 60 * 1000;
/// Open checkouts one payer may have at once: each is a row, and nothing a
/// caller does may grow storage without bound.
const MAX_OPEN_CHECKOUTS: i64 = 20;
/// Item statuses while a charge at confirmation is under way, and after it
/// failed.
const INCOMPLETE: &str = "incomplete";
const ABANDONED: &str = "abandoned";

/// A `billing_checkouts` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = billing_checkouts, treat_none_as_null = true)]
pub struct CheckoutRow {
    pub id: String,
    pub payer_id: String,
    pub plan_id: String,
    pub plan_period: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub free_trial_days: Option<i32>,
    pub subscription_item_id: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's checkout totals: every amount sent, as clerk-js requires.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub subtotal: Money,
    pub base_fee: Money,
    pub tax_total: Money,
    pub grand_total: Money,
    pub total_due_now: Money,
    pub total_due_after_free_trial: Option<Money>,
    pub total_due_per_period: Money,
    pub credit: Option<Money>,
    pub credits: Option<serde_json::Value>,
    pub past_due: Option<Money>,
    pub discounts: Option<serde_json::Value>,
}

/// Clerk's `commerce_checkout` object.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutObject {
    pub object: &'static str,
    pub id: String,
    pub status: String,
    pub plan: PlanObject,
    pub plan_period: String,
    pub plan_period_start: i64,
    pub payer: PayerObject,
    pub payment_method: Option<PaymentMethodObject>,
    pub external_gateway_id: String,
    pub totals: Totals,
    pub subscription_item: Option<ItemObject>,
    pub is_immediate_plan_change: bool,
    pub free_trial_ends_at: Option<i64>,
    pub needs_payment_method: bool,
}

/// How the payer pays at confirmation.
#[derive(Debug, Clone, Default)]
pub struct Confirmation {
    /// One of the payer's saved cards.
    pub payment_method_id: Option<String>,
    /// A card Stripe.js just confirmed (`pm_…`), saved first.
    pub payment_token: Option<String>,
}

fn requires_card(state: &AppState) -> Result<bool, ApiError> {
    Ok(BillingState::of(state)?
        .settings
        .free_trial_requires_payment_method)
}

fn object(
    conn: &mut DbConnection,
    state_instance: &str,
    checkout: &CheckoutRow,
    requires_card: bool,
) -> Result<CheckoutObject, ApiError> {
    let plan = plans::find(conn, &checkout.plan_id)?.ok_or_else(|| ApiError::not_found("plan"))?;
    let payer = payers::get(conn, &checkout.payer_id)?;
    let cards = payment_methods::active_of(conn, &payer.id)?;
    let default = payer.default_payment_method_id.as_deref();
    let card = cards
        .iter()
        .find(|card| Some(card.id.as_str()) == default)
        .or(cards.first());
    let item = match &checkout.subscription_item_id {
        Some(id) => match store::item(conn, id)? {
            Some(item) => item_objects(conn, state_instance, &[item], false)?.pop(),
            None => None,
        },
        None => None,
    };
    let fee = Money::new(checkout.amount, &checkout.currency);
    let zero = Money::new(0, &checkout.currency);
    let trial_ends_at = checkout
        .free_trial_days
        .map(|days| checkout.created_at + i64::from(days) * DAY_MS);
    let needs_payment_method = match checkout.free_trial_days {
        Some(_) => requires_card && card.is_none(),
        None => checkout.amount > 0 && card.is_none(),
    };
    Ok(CheckoutObject {
        object: "commerce_checkout",
        id: checkout.id.clone(),
        status: checkout.status.clone(),
        plan: PlanObject::from(&plan),
        plan_period: checkout.plan_period.clone(),
        plan_period_start: checkout.created_at,
        payer: PayerObject::new(&payer, state_instance),
        payment_method: card.map(|card| PaymentMethodObject::new(card, default, true)),
        external_gateway_id: String::new(),
        totals: Totals {
            subtotal: fee.clone(),
            base_fee: fee.clone(),
            tax_total: zero.clone(),
            grand_total: fee.clone(),
            total_due_now: if trial_ends_at.is_some() {
                zero
            } else {
                fee.clone()
            },
            total_due_after_free_trial: trial_ends_at.map(|_| fee.clone()),
            total_due_per_period: fee,
            credit: None,
            credits: None,
            past_due: None,
            discounts: None,
        },
        subscription_item: item,
        is_immediate_plan_change: true,
        free_trial_ends_at: trial_ends_at,
        needs_payment_method,
    })
}

/// The plan a payer may check out: in use, for their payer type, paid,
/// payable per `period`, and not the plan they are on now.
fn checkable_plan(
    conn: &mut DbConnection,
    payer: &PayerRow,
    plan_id: &str,
    period: PlanPeriod,
) -> Result<(Plan, i64), ApiError> {
    let plan = plans::find(conn, plan_id)?
        .filter(|plan| plan.row.archived_at.is_none() && plan.row.id == plan_id)
        .ok_or_else(|| ApiError::not_found("plan").with_param("plan_id"))?;
    let invalid = |message: &str| {
        ApiError::new(
            ErrorCode::InvalidPlanChange,
            "invalid plan change",
            message.to_owned(),
        )
        .with_param("plan_id")
    };
    if plan.row.payer_type != payer.payer_type() {
        return Err(invalid("This plan is for another kind of payer."));
    }
    if plan.row.is_default || plan.row.fee_amount == 0 {
        return Err(invalid(
            "The free plan needs no checkout: cancel the current subscription item instead.",
        ));
    }
    let fee = plan.row.fee_for(period).ok_or_else(|| {
        ApiError::param_value("plan_period", "This plan cannot be paid per this period.")
    })?;
    if let Some(current) = store::current_item(conn, &payer.id)? {
        if current.plan_id == plan.row.id && current.plan_period == period.as_str() {
            return Err(invalid("The payer is already subscribed to this plan."));
        }
    }
    Ok((plan, fee))
}

/// `POST …/billing/checkouts`.
pub async fn create(
    state: &AppState,
    payer: PayerRef,
    email: Option<String>,
    plan_id: String,
    period: PlanPeriod,
) -> Result<CheckoutObject, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let requires_card = requires_card(state)?;
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.checkouts.create", move |conn| {
            let (payer, email, plan_id) = (payer.clone(), email.clone(), plan_id.clone());
            write_transaction(conn, |conn| {
                let (row, _) = ensure_payer(conn, &payer, now)?;
                if let Some(email) = email.filter(|e| row.email.as_deref() != Some(e.as_str())) {
                    diesel::update(billing_payers::table.find(&row.id))
                        .set(billing_payers::email.eq(email))
                        .execute(conn)?;
                }
                let (plan, fee) = checkable_plan(conn, &row, &plan_id, period)?;
                let open: i64 = billing_checkouts::table
                    .filter(billing_checkouts::payer_id.eq(&row.id))
                    .filter(billing_checkouts::status.eq("needs_confirmation"))
                    .filter(billing_checkouts::expires_at.gt(now))
                    .count()
                    .get_result(conn)?;
                if open >= MAX_OPEN_CHECKOUTS {
                    return Err(ApiError::new(
                        ErrorCode::CheckoutAlreadyInProgress,
                        "too many open checkouts",
                        "This payer has too many checkouts waiting for confirmation; confirm one or wait an hour.",
                    ));
                }
                let trial = plan
                    .row
                    .trial_days()
                    .filter(|_| row.eligible_for_free_trial());
                let checkout = CheckoutRow {
                    id: crate::crypto::ids::new_id("cchk"),
                    payer_id: row.id.clone(),
                    plan_id: plan.row.id.clone(),
                    plan_period: period.as_str().to_owned(),
                    status: "needs_confirmation".to_owned(),
                    amount: fee,
                    currency: plan.row.currency.clone(),
                    free_trial_days: trial,
                    subscription_item_id: None,
                    expires_at: now + CHECKOUT_LIFETIME_MS,
                    created_at: now,
                    updated_at: now,
                };
                diesel::insert_into(billing_checkouts::table)
                    .values(&checkout)
                    .execute(conn)?;
                object(conn, &instance_id, &checkout, requires_card)
            })
        })
        .await
}

fn load(conn: &mut DbConnection, payer_id: &str, id: &str) -> Result<CheckoutRow, ApiError> {
    billing_checkouts::table
        .find(id)
        .filter(billing_checkouts::payer_id.eq(payer_id))
        .select(CheckoutRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("checkout"))
}

/// `GET …/billing/checkouts/{id}`.
pub async fn get(
    state: &AppState,
    payer: PayerRef,
    id: String,
) -> Result<CheckoutObject, ApiError> {
    let requires_card = requires_card(state)?;
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.checkouts.get", move |conn| {
            let row = payers::find(conn, &payer)?.ok_or_else(|| ApiError::not_found("checkout"))?;
            let checkout = load(conn, &row.id, &id)?;
            object(conn, &instance_id, &checkout, requires_card)
        })
        .await
}

/// `at` plus `months` calendar months (the day clamped to the month's end).
pub fn add_months(at: i64, months: u32) -> i64 {
    use chrono::{Months, TimeZone, Utc};
    Utc.timestamp_millis_opt(at)
        .single()
        .and_then(|t| t.checked_add_months(Months::new(months)))
        .map_or(at + i64::from(months) * 30 * DAY_MS, |t| {
            t.timestamp_millis()
        })
}
