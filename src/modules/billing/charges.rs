//! Charging a payer for one period of a subscription item, exactly once.
//!
//! Each charge is a payment attempt whose idempotency key is derived from
//! (item, period start, failures so far): the same key is the row's
//! unique key here and Stripe's `Idempotency-Key`. A process killed
//! between Stripe's answer and the database update, or two processes
//! charging the same item at once, reach the same attempt row and the
//! same PaymentIntent, so the payer is charged once; a retry after a
//! decline is a new attempt with a new key. The caller applies the
//! outcome to the item ([`Charged`]) in its own transaction; repeating
//! that after a crash finds the attempt already settled and applies the
//! same outcome.

use std::collections::HashMap;

use chrono::{Datelike, TimeZone, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::events;
use super::money::Money;
use super::payers::PayerRow;
use super::payment_methods;
use super::schema::{billing_payment_attempts, billing_statements};
use super::stripe::{ChargeOutcome, ChargeRequest, GatewayError};
use super::subscriptions::model::ItemRow;
use super::{pool, BillingState};
use crate::db::{on_backend, write_transaction, DbConnection};
use crate::http::ApiError;
use crate::state::AppState;

/// Why a payer is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeType {
    /// When a checkout is confirmed without a trial.
    Checkout,
    /// At the end of a trial or period.
    Recurring,
}

impl ChargeType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Checkout => "checkout",
            Self::Recurring => "recurring",
        }
    }
}

/// A `billing_payment_attempts` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = billing_payment_attempts)]
pub struct AttemptRow {
    pub id: String,
    pub payer_id: String,
    pub statement_id: String,
    pub subscription_item_id: String,
    pub payment_method_id: Option<String>,
    pub charge_type: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub idempotency_key: String,
    pub gateway_external_id: Option<String>,
    pub failed_code: Option<String>,
    pub decline_code: Option<String>,
    pub paid_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What became of a charge.
#[derive(Debug, Clone)]
pub enum Charged {
    /// The money moved.
    Paid(AttemptRow),
    /// The card was refused, or there is none to charge.
    Failed(AttemptRow),
    /// Stripe is out of reach or failing: try again later, with the same
    /// attempt (and key).
    Retry(String),
    /// The bank wants the payer (3-D Secure) or the payment is still
    /// settling; Stripe's webhook settles it.
    Pending(AttemptRow),
}

/// The period start a charge pays for, which names its attempt.
pub fn idempotency_key(item: &ItemRow, period_start: i64) -> String {
    format!("{}:{}:{}", item.id, period_start, item.charge_failures)
}

/// The start (Unix ms) of the UTC month that contains `at`.
fn month_start(at: i64) -> i64 {
    let day = Utc
        .timestamp_millis_opt(at)
        .single()
        .unwrap_or_else(Utc::now)
        .date_naive();
    Utc.with_ymd_and_hms(day.year(), day.month(), 1, 0, 0, 0)
        .single()
        .map_or(at, |start| start.timestamp_millis())
}

/// The payer's open statement for the month of `now`, made if missing.
fn statement_for(
    conn: &mut DbConnection,
    payer: &PayerRow,
    currency: &str,
    now: i64,
) -> QueryResult<String> {
    let timestamp = month_start(now);
    on_backend!(conn, c => diesel::insert_into(billing_statements::table)
        .values((
            billing_statements::id.eq(crate::crypto::ids::new_id("stmt")),
            billing_statements::payer_id.eq(&payer.id),
            billing_statements::status.eq("open"),
            billing_statements::currency.eq(currency),
            billing_statements::timestamp.eq(timestamp),
            billing_statements::created_at.eq(now),
            billing_statements::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    billing_statements::table
        .filter(billing_statements::payer_id.eq(&payer.id))
        .filter(billing_statements::timestamp.eq(timestamp))
        .select(billing_statements::id)
        .first(conn)
}

fn attempt_by_key(conn: &mut DbConnection, key: &str) -> QueryResult<AttemptRow> {
    billing_payment_attempts::table
        .filter(billing_payment_attempts::idempotency_key.eq(key))
        .select(AttemptRow::as_select())
        .first(conn)
}

/// The event payload of an attempt.
#[derive(Serialize)]
struct AttemptEvent<'a> {
    id: &'a str,
    payment_id: &'a str,
    statement_id: &'a str,
    subscription_item_id: &'a str,
    status: &'a str,
    charge_type: &'a str,
    amount: Money,
    gateway_external_id: Option<&'a str>,
    failed_reason: Option<serde_json::Value>,
    paid_at: Option<i64>,
    failed_at: Option<i64>,
}

fn record_attempt_event(
    conn: &mut DbConnection,
    event: &str,
    row: &AttemptRow,
    now: i64,
) -> QueryResult<()> {
    let failed_reason = row
        .failed_code
        .as_ref()
        .map(|code| serde_json::json!({"code": code, "decline_code": row.decline_code}));
    events::record(
        conn,
        event,
        &row.id,
        &AttemptEvent {
            id: &row.id,
            payment_id: &row.id,
            statement_id: &row.statement_id,
            subscription_item_id: &row.subscription_item_id,
            status: &row.status,
            charge_type: &row.charge_type,
            amount: Money::new(row.amount, &row.currency),
            gateway_external_id: row.gateway_external_id.as_deref(),
            failed_reason,
            paid_at: row.paid_at,
            failed_at: row.failed_at,
        },
        now,
    )
}

/// Charges `payer` for the period of `item` that starts at
/// `period_start` (`item.amount`, with the item's card or else the payer's
/// default card). Safe to repeat: see the module's documentation.
pub async fn charge(
    state: &AppState,
    payer: &PayerRow,
    item: &ItemRow,
    period_start: i64,
    charge_type: ChargeType,
) -> Result<Charged, ApiError> {
    let billing = BillingState::of(state)?;
    let now = billing.clock.now_ms();
    let key = idempotency_key(item, period_start);
    let (payer, item) = (payer.clone(), item.clone());
    let card_id = item
        .payment_method_id
        .clone()
        .or_else(|| payer.default_payment_method_id.clone());

    // The attempt, made once per key; its card is resolved with it.
    let prepared = {
        let (payer, item, key, card_id) =
            (payer.clone(), item.clone(), key.clone(), card_id.clone());
        pool(state)
            .run("billing.charge.prepare", move |conn| {
                write_transaction(conn, |conn| {
                    let card = match &card_id {
                        Some(id) => payment_methods::find(conn, id)?.filter(|c| c.status == "active"),
                        None => None,
                    };
                    let statement_id = statement_for(conn, &payer, &item.currency, now)?;
                    let fresh = AttemptRow {
                        id: crate::crypto::ids::new_id("cpa"),
                        payer_id: payer.id.clone(),
                        statement_id,
                        subscription_item_id: item.id.clone(),
                        payment_method_id: card.as_ref().map(|c| c.id.clone()),
                        charge_type: charge_type.as_str().to_owned(),
                        amount: item.amount,
                        currency: item.currency.clone(),
                        status: "pending".to_owned(),
                        idempotency_key: key.clone(),
                        gateway_external_id: None,
                        failed_code: None,
                        decline_code: None,
                        paid_at: None,
                        failed_at: None,
                        created_at: now,
                        updated_at: now,
                    };
                    let inserted = on_backend!(conn, c => diesel::insert_into(billing_payment_attempts::table)
                        .values(&fresh)
                        .on_conflict_do_nothing()
                        .execute(c))?;
                    let attempt = attempt_by_key(conn, &key)?;
                    if inserted == 1 {
                        record_attempt_event(conn, "paymentAttempt.created", &attempt, now)?;
                    }
                    Ok::<_, ApiError>((attempt, card))
                })
            })
            .await?
    };
    let (attempt, card) = prepared;
    match attempt.status.as_str() {
        "paid" => return Ok(Charged::Paid(attempt)),
        "failed" => return Ok(Charged::Failed(attempt)),
        _ => {}
    }

    let (Some(card), Some(customer)) = (card, payer.gateway_customer_id.clone()) else {
        let settled = settle(
            state,
            &key,
            Settlement::failed(None, "payment_method_missing".into(), None),
            now,
        )
        .await?;
        return Ok(Charged::Failed(settled));
    };
    let Some(gateway) = billing.gateway.as_ref() else {
        return Ok(Charged::Retry("no payment gateway is configured".into()));
    };
    let request = ChargeRequest {
        customer: &customer,
        payment_method: &card.gateway_external_id,
        amount: attempt.amount,
        currency: &attempt.currency,
        idempotency_key: &key,
        // One key: a repeated request must carry exactly the same
        // parameters under its idempotency key, and a map of several keys
        // has no fixed order. The attempt names its item.
        metadata: HashMap::from([("steward_payment_attempt".to_owned(), attempt.id.clone())]),
    };
    let outcome = gateway.charge(&request).await;
    let now = billing.clock.now_ms();
    match outcome {
        Ok(ChargeOutcome::Succeeded { payment_intent }) => {
            let paid = settle(state, &key, Settlement::paid(payment_intent), now).await?;
            Ok(Charged::Paid(paid))
        }
        Ok(ChargeOutcome::Declined {
            payment_intent,
            code,
            decline_code,
            ..
        }) => {
            let code = code.unwrap_or_else(|| "card_declined".to_owned());
            let failed = settle(
                state,
                &key,
                Settlement::failed(payment_intent, code, decline_code),
                now,
            )
            .await?;
            Ok(Charged::Failed(failed))
        }
        Ok(
            ChargeOutcome::RequiresAction { payment_intent }
            | ChargeOutcome::Processing { payment_intent },
        ) => {
            let pending = note_intent(state, &key, payment_intent, now).await?;
            Ok(Charged::Pending(pending))
        }
        Ok(ChargeOutcome::Transient { reason }) => Ok(Charged::Retry(reason)),
        Err(error) if error.is_transient() => Ok(Charged::Retry(error.to_string())),
        // Our request was wrong, not the card: the attempt stays pending
        // (nothing was charged under its key) and the error is ours.
        Err(
            error @ (GatewayError::IdempotencyMismatch
            | GatewayError::Config(_)
            | GatewayError::Unreadable(_)),
        ) => Err(ApiError::internal(error)),
        Err(error) => {
            let failed = settle(
                state,
                &key,
                Settlement::failed(None, "payment_gateway_refused".into(), None),
                now,
            )
            .await?;
            tracing::warn!(%error, attempt = failed.id, "the payment gateway refused a charge");
            Ok(Charged::Failed(failed))
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub paid: bool,
    pub payment_intent: Option<String>,
    pub code: Option<String>,
    pub decline_code: Option<String>,
}

impl Settlement {
    pub fn paid(payment_intent: String) -> Self {
        Self {
            paid: true,
            payment_intent: Some(payment_intent),
            code: None,
            decline_code: None,
        }
    }

    pub fn failed(
        payment_intent: Option<String>,
        code: String,
        decline_code: Option<String>,
    ) -> Self {
        Self {
            paid: false,
            payment_intent,
            code: Some(code),
            decline_code,
        }
    }
}

/// Marks the pending attempt `key` paid or failed (once: a settled
/// attempt stays as it is) and records the event.
pub async fn settle(
    state: &AppState,
    key: &str,
    how: Settlement,
    now: i64,
) -> Result<AttemptRow, ApiError> {
    let key = key.to_owned();
    pool(state)
        .run("billing.charge.settle", move |conn| {
            let how = how.clone();
            write_transaction(conn, |conn| settle_in(conn, &key, &how, now))
        })
        .await
}

/// [`settle`] inside the caller's transaction (Stripe's webhook settles
/// attempts that were pending).
pub fn settle_in(
    conn: &mut DbConnection,
    key: &str,
    how: &Settlement,
    now: i64,
) -> Result<AttemptRow, ApiError> {
    let updated = diesel::update(
        billing_payment_attempts::table
            .filter(billing_payment_attempts::idempotency_key.eq(key))
            .filter(billing_payment_attempts::status.eq("pending")),
    )
    .set((
        billing_payment_attempts::status.eq(if how.paid { "paid" } else { "failed" }),
        billing_payment_attempts::gateway_external_id.eq(&how.payment_intent),
        billing_payment_attempts::failed_code.eq(&how.code),
        billing_payment_attempts::decline_code.eq(&how.decline_code),
        billing_payment_attempts::paid_at.eq(how.paid.then_some(now)),
        billing_payment_attempts::failed_at.eq((!how.paid).then_some(now)),
        billing_payment_attempts::updated_at.eq(now),
    ))
    .execute(conn)?;
    let attempt = attempt_by_key(conn, key)?;
    if updated == 1 {
        record_attempt_event(conn, "paymentAttempt.updated", &attempt, now)?;
    }
    Ok(attempt)
}

/// Keeps the PaymentIntent of an attempt that is still settling.
async fn note_intent(
    state: &AppState,
    key: &str,
    payment_intent: String,
    now: i64,
) -> Result<AttemptRow, ApiError> {
    let key = key.to_owned();
    pool(state)
        .run("billing.charge.note_intent", move |conn| {
            diesel::update(
                billing_payment_attempts::table
                    .filter(billing_payment_attempts::idempotency_key.eq(&key))
                    .filter(billing_payment_attempts::status.eq("pending")),
            )
            .set((
                billing_payment_attempts::gateway_external_id.eq(&payment_intent),
                billing_payment_attempts::updated_at.eq(now),
            ))
            .execute(conn)?;
            attempt_by_key(conn, &key).map_err(ApiError::from)
        })
        .await
}
