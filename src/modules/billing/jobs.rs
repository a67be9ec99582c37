//! The billing lifecycle job: trial-ending notices, trial ends, renewals,
//! retries of past-due charges, and the end of canceled items, all read
//! against the billing clock ([`super::clock`]) so tests can move time.
//!
//! It runs in every process that runs jobs, so two processes may run it
//! at once. Each due item is claimed first (a conditional UPDATE of
//! `claimed_until` that only one process wins until the lease expires),
//! and a charge is idempotent anyway ([`super::charges`]): a process that
//! dies mid-charge leaves a claim that expires and an attempt whose key
//! Stripe recognises, so the next run charges nobody twice. Outcomes are
//! applied with the item row locked ([`super::lifecycle`]).

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;

use super::charges::{self, ChargeType, Charged};
use super::lifecycle::{self, Applied};
use super::payers::{self, PayerRow};
use super::plans::store as plans;
use super::schema::billing_subscription_items as items;
use super::subscriptions::model::{status, ItemRow};
use super::subscriptions::store;
use super::{pool, BillingState};
use crate::db::write_transaction;
use crate::http::ApiError;
use crate::state::AppState;

/// How long a claim keeps other processes off an item: longer than a
/// charge can take (the gateway's own timeouts are far shorter).
pub const CLAIM_LEASE_MS: i64 = 10 * 60_000;
/// Items looked at per run and kind; the rest wait for the next run.
const BATCH: i64 = 500;
const DAY_MS: i64 = 86_400_000;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// Trial-ending notices sent (or recorded, for a payer without email).
    pub notices: usize,
    /// Charges that paid a new period.
    pub renewed: usize,
    /// Charges refused with retries left.
    pub past_due: usize,
    /// Items ended (canceled at their end, out of retries, no card).
    pub ended: usize,
    /// Charges left for Stripe's webhook to settle.
    pub pending: usize,
    /// Items left for the next run (Stripe unreachable, mail failed).
    pub deferred: usize,
}

/// Runs [`run_once`] every `job_interval_seconds`, the first time one
/// interval after start. Ends at once where billing is switched off.
pub async fn lifecycle(state: Arc<AppState>) {
    let Ok(billing) = BillingState::of(&state) else {
        return;
    };
    let every = Duration::from_secs(billing.settings.job_interval_seconds);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticker.tick().await;
        match run_once(&state).await {
            Ok(report) => {
                let done = report.renewed + report.past_due + report.ended + report.notices;
                metrics::counter!("steward_job_rows_total", "job" => "billing_lifecycle")
                    .increment(done as u64);
            }
            Err(error) => tracing::warn!(%error, "billing lifecycle run failed; retrying later"),
        }
    }
}

/// One pass: notices first, then every item due now.
pub async fn run_once(state: &AppState) -> Result<JobReport, ApiError> {
    let billing = BillingState::of(state)?;
    let mut report = JobReport::default();
    let now = billing.clock.now_ms();
    let horizon = now + billing.settings.trial_notice_days * DAY_MS;
    for id in notice_candidates(state, now, horizon).await? {
        if claim(state, &id).await? {
            send_notice(state, &id, &mut report).await?;
        }
    }
    for id in due_items(state, now).await? {
        if claim(state, &id).await? {
            settle_due(state, &id, &mut report).await?;
        }
    }
    if report.ended + report.renewed + report.past_due > 0 {
        // Payers put back on the default plan see it in their next token.
        super::push::deliver_soon(state).await;
    }
    Ok(report)
}

fn now_of(state: &AppState) -> Result<i64, ApiError> {
    Ok(BillingState::of(state)?.clock.now_ms())
}

/// Active trials ending by `horizon` whose notice is not out yet.
async fn notice_candidates(
    state: &AppState,
    now: i64,
    horizon: i64,
) -> Result<Vec<String>, ApiError> {
    pool(state)
        .run("billing.jobs.notice_candidates", move |conn| {
            items::table
                .filter(items::status.eq(status::ACTIVE))
                .filter(items::is_free_trial.eq(true))
                .filter(items::trial_notice_sent_at.is_null())
                .filter(items::period_end.gt(now))
                .filter(items::period_end.le(horizon))
                .order(items::period_end)
                .limit(BATCH)
                .select(items::id)
                .load::<String>(conn)
                .map_err(ApiError::from)
        })
        .await
}

/// Items whose trial or period has ended (active or canceled), and past-due
/// items whose retry is due.
async fn due_items(state: &AppState, now: i64) -> Result<Vec<String>, ApiError> {
    pool(state)
        .run("billing.jobs.due_items", move |conn| {
            items::table
                .filter(
                    items::status
                        .eq_any([status::ACTIVE, status::CANCELED])
                        .and(items::period_end.le(now))
                        .or(items::status
                            .eq(status::PAST_DUE)
                            .and(items::next_charge_at.le(now))),
                )
                .order(items::period_end)
                .limit(BATCH)
                .select(items::id)
                .load::<String>(conn)
                .map_err(ApiError::from)
        })
        .await
}

/// Takes the item for this process until the lease expires; false when
/// another process holds it.
async fn claim(state: &AppState, id: &str) -> Result<bool, ApiError> {
    let now = now_of(state)?;
    let id = id.to_owned();
    let won = pool(state)
        .run("billing.jobs.claim", move |conn| {
            diesel::update(
                items::table.find(&id).filter(
                    items::claimed_until
                        .is_null()
                        .or(items::claimed_until.le(now)),
                ),
            )
            .set(items::claimed_until.eq(now + CLAIM_LEASE_MS))
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    Ok(won == 1)
}

/// Holds (or releases, with `None`) the claim on an item until `until`.
async fn hold(state: &AppState, id: &str, until: Option<i64>) -> Result<(), ApiError> {
    let id = id.to_owned();
    pool(state)
        .run("billing.jobs.hold", move |conn| {
            diesel::update(items::table.find(&id))
                .set(items::claimed_until.eq(until))
                .execute(conn)
                .map(|_| ())
                .map_err(ApiError::from)
        })
        .await
}

async fn load(state: &AppState, id: &str) -> Result<Option<(ItemRow, PayerRow)>, ApiError> {
    let id = id.to_owned();
    pool(state)
        .run("billing.jobs.load", move |conn| {
            let Some(item) = store::item(conn, &id)? else {
                return Ok(None);
            };
            let payer = payers::get(conn, &item.payer_id)?;
            Ok(Some((item, payer)))
        })
        .await
}

fn has_card(item: &ItemRow, payer: &PayerRow) -> bool {
    item.payment_method_id.is_some() || payer.default_payment_method_id.is_some()
}

/// Mails the trial-ending notice, then marks it sent and records
/// `subscriptionItem.freeTrialEnding`. A mail that fails leaves the notice
/// unsent for the next run.
async fn send_notice(state: &AppState, id: &str, report: &mut JobReport) -> Result<(), ApiError> {
    let Some((item, payer)) = load(state, id).await? else {
        return Ok(());
    };
    let Some(trial_end) = item.period_end.filter(|_| item.is_free_trial) else {
        return hold(state, id, None).await;
    };
    if let Some(to) = &payer.email {
        let plan_id = item.plan_id.clone();
        let plan = pool(state)
            .run("billing.jobs.notice_plan", move |conn| {
                plans::find(conn, &plan_id).map_err(ApiError::from)
            })
            .await?;
        let plan_name = plan.map_or_else(|| "your plan".to_owned(), |p| p.row.name);
        let money = super::money::Money::new(item.amount, &item.currency);
        let amount = format!("{}{}", money.currency_symbol, money.amount_formatted);
        let ends_on = chrono::DateTime::from_timestamp_millis(trial_end)
            .map_or_else(String::new, |at| at.format("%B %-d, %Y").to_string());
        let charged = has_card(&item, &payer);
        if let Err(error) = state
            .mailer
            .send_trial_ending(to, &plan_name, &ends_on, &amount, charged)
            .await
        {
            tracing::warn!(%error, item = %item.id, "trial-ending notice not sent; retrying later");
            report.deferred += 1;
            return hold(state, id, None).await;
        }
    }
    let now = now_of(state)?;
    let instance_id = state.instance.id.clone();
    let id = id.to_owned();
    let marked = pool(state)
        .run("billing.jobs.notice_sent", move |conn| {
            write_transaction(conn, |conn| {
                let Some(mut item) = store::lock_item(conn, &id)? else {
                    return Ok(false);
                };
                item.claimed_until = None;
                let same_trial = item.is_free_trial
                    && item.period_end == Some(trial_end)
                    && item.trial_notice_sent_at.is_none();
                if same_trial {
                    item.trial_notice_sent_at = Some(now);
                    item.updated_at = now;
                }
                store::save_item(conn, &item)?;
                if same_trial {
                    lifecycle::record_item_event(
                        conn,
                        &instance_id,
                        "subscriptionItem.freeTrialEnding",
                        &item,
                        now,
                    )?;
                }
                Ok::<_, ApiError>(same_trial)
            })
        })
        .await?;
    if marked {
        report.notices += 1;
    }
    Ok(())
}

/// What a due item needs.
enum Due {
    /// It ends without a charge: canceled, or a trial without a card where
    /// trials need none.
    End,
    /// Its next period is charged.
    Charge,
    /// Nothing (it changed since it was listed).
    Nothing,
}

fn decide(item: &ItemRow, payer: &PayerRow, requires_card: bool, now: i64) -> Due {
    let ended_period = item.period_end.is_some_and(|end| end <= now);
    match item.status.as_str() {
        status::CANCELED if ended_period => Due::End,
        status::ACTIVE if ended_period => {
            if item.is_free_trial && !requires_card && !has_card(item, payer) {
                Due::End
            } else {
                Due::Charge
            }
        }
        status::PAST_DUE if item.next_charge_at.is_some_and(|at| at <= now) => Due::Charge,
        _ => Due::Nothing,
    }
}

/// Ends, charges or leaves one claimed item, and releases or keeps the
/// claim as the outcome needs.
async fn settle_due(state: &AppState, id: &str, report: &mut JobReport) -> Result<(), ApiError> {
    let billing = BillingState::of(state)?;
    let Some((item, payer)) = load(state, id).await? else {
        return Ok(());
    };
    let now = billing.clock.now_ms();
    let requires_card = billing.settings.free_trial_requires_payment_method;
    match decide(&item, &payer, requires_card, now) {
        Due::Nothing => hold(state, id, None).await,
        Due::End => {
            if end_unchanged(state, &item).await? {
                report.ended += 1;
            }
            Ok(())
        }
        Due::Charge => {
            let period_start = item.period_end.unwrap_or(now);
            match charges::charge(state, &payer, &item, period_start, ChargeType::Recurring).await?
            {
                Charged::Paid(attempt) | Charged::Failed(attempt) => {
                    let (attempt_id, paid) = (attempt.id.clone(), attempt.status == "paid");
                    match apply(state, &item.id, attempt).await? {
                        Applied::Renewed => report.renewed += 1,
                        Applied::PastDue => report.past_due += 1,
                        Applied::Ended => report.ended += 1,
                        Applied::Stale => {
                            if paid {
                                // Ended by an admin while it was being
                                // charged: the money moved, the period was
                                // not granted. Left for a person to refund.
                                tracing::warn!(item = %item.id, attempt = %attempt_id,
                                    "a charge was paid for an item that had moved on");
                            }
                            hold(state, id, None).await?
                        }
                    }
                    Ok(())
                }
                Charged::Retry(reason) => {
                    tracing::warn!(item = %item.id, %reason, "charge deferred to the next run");
                    report.deferred += 1;
                    hold(state, id, None).await
                }
                Charged::Pending(_) => {
                    // Stripe's webhook settles it; until then the item is
                    // held so that each run does not ask Stripe again.
                    report.pending += 1;
                    let retry = billing.settings.charge_retry_hours * 3_600_000;
                    hold(state, id, Some(now + retry)).await
                }
            }
        }
    }
}

/// Applies a settled attempt to its item (locked), as Stripe's webhook
/// does for attempts that were pending.
pub async fn apply(
    state: &AppState,
    item_id: &str,
    attempt: charges::AttemptRow,
) -> Result<Applied, ApiError> {
    let billing = BillingState::of(state)?;
    let settings = billing.settings.clone();
    let now = billing.clock.now_ms();
    let instance_id = state.instance.id.clone();
    let item_id = item_id.to_owned();
    pool(state)
        .run("billing.jobs.apply", move |conn| {
            write_transaction(conn, |conn| {
                let Some(mut item) = store::lock_item(conn, &item_id)? else {
                    return Ok(Applied::Stale);
                };
                lifecycle::apply_settled(conn, &instance_id, &settings, &mut item, &attempt, now)
            })
        })
        .await
}

/// Ends `seen` and moves its payer to the default plan, unless it changed
/// since it was read (an admin extended or ended it meanwhile).
async fn end_unchanged(state: &AppState, seen: &ItemRow) -> Result<bool, ApiError> {
    let now = now_of(state)?;
    let instance_id = state.instance.id.clone();
    let seen = seen.clone();
    pool(state)
        .run("billing.jobs.end", move |conn| {
            write_transaction(conn, |conn| {
                let Some(mut item) = store::lock_item(conn, &seen.id)? else {
                    return Ok(false);
                };
                if item.status != seen.status || item.period_end != seen.period_end {
                    item.claimed_until = None;
                    store::save_item(conn, &item)?;
                    return Ok(false);
                }
                lifecycle::end_to_default(conn, &instance_id, &mut item, now)?;
                Ok::<_, ApiError>(true)
            })
        })
        .await
}
