//! Confirming a checkout: under the payer's lock, a trial starts or the
//! item waits as `incomplete` while it is charged once; the charge's
//! outcome then makes it the payer's current item or abandons it.

use diesel::prelude::*;

use super::*;

/// What the first step of a confirmation decided.
enum Step {
    /// Already completed (a repeated confirmation): nothing to do.
    Done,
    /// A trial started: done.
    Trial,
    /// The new item waits for its first charge.
    Charge(Box<(PayerRow, ItemRow)>),
}

/// `PATCH …/billing/checkouts/{id}/confirm`.
pub async fn confirm(
    state: &AppState,
    payer: PayerRef,
    id: String,
    how: Confirmation,
) -> Result<CheckoutObject, ApiError> {
    let requires_card = requires_card(state)?;
    let instance_id = state.instance.id.clone();
    let payer_row = pool(state)
        .run("billing.checkouts.payer", {
            let payer = payer.clone();
            move |conn| payers::find(conn, &payer)?.ok_or_else(|| ApiError::not_found("checkout"))
        })
        .await?;
    // A new card is saved (at Stripe and here) before anything else.
    let new_card = match how.payment_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Some(payment_methods::attach(state, &payer_row, token).await?),
        None => None,
    };
    let chosen_card = new_card
        .map(|card| card.id)
        .or(how.payment_method_id.filter(|id| !id.is_empty()));
    let now = BillingState::of(state)?.clock.now_ms();

    let step = {
        let (payer_id, id, chosen_card) = (payer_row.id.clone(), id.clone(), chosen_card.clone());
        let instance = instance_id.clone();
        pool(state)
            .run("billing.checkouts.confirm", move |conn| {
                let chosen_card = chosen_card.clone();
                write_transaction(conn, |conn| {
                    begin_confirmation(
                        conn,
                        &instance,
                        &payer_id,
                        &id,
                        chosen_card,
                        requires_card,
                        now,
                    )
                })
            })
            .await?
    };
    if let Step::Charge(charge) = step {
        let (payer_row, item) = *charge;
        let charged = charges::charge(
            state,
            &payer_row,
            &item,
            item.period_start,
            ChargeType::Checkout,
        )
        .await?;
        let now = BillingState::of(state)?.clock.now_ms();
        let (payer_id, id) = (payer_row.id.clone(), id.clone());
        let instance = instance_id.clone();
        let declined = pool(state)
            .run("billing.checkouts.settle", move |conn| {
                let charged = charged.clone();
                write_transaction(conn, |conn| {
                    finish_confirmation(conn, &instance, &payer_id, &id, &charged, now)
                })
            })
            .await?;
        if let Some(error) = declined {
            return Err(error);
        }
    }
    crate::modules::billing::push::deliver_soon(state).await;
    pool(state)
        .run("billing.checkouts.read", move |conn| {
            let checkout = load(conn, &payer_row.id, &id)?;
            object(conn, &instance_id, &checkout, requires_card)
        })
        .await
}

/// Under the payer's lock: checks the checkout and the card, then starts
/// the trial, or makes the item the charge will pay for. A repeated
/// confirmation reaches the same item (and so the same charge).
fn begin_confirmation(
    conn: &mut DbConnection,
    instance_id: &str,
    payer_id: &str,
    id: &str,
    chosen_card: Option<String>,
    requires_card: bool,
    now: i64,
) -> Result<Step, ApiError> {
    let payer = payers::lock(conn, payer_id)?;
    let mut checkout = load(conn, &payer.id, id)?;
    if checkout.status == "completed" {
        return Ok(Step::Done);
    }
    if checkout.expires_at < now {
        return Err(ApiError::new(
            ErrorCode::InvalidPlanChange,
            "checkout expired",
            "This checkout has expired; start a new one.",
        ));
    }
    if let Some(item_id) = &checkout.subscription_item_id {
        if let Some(item) = store::item(conn, item_id)?.filter(|item| item.status == INCOMPLETE) {
            return Ok(Step::Charge(Box::new((payer, item))));
        }
    }
    let card: Option<PaymentMethodRow> =
        match chosen_card.or_else(|| payer.default_payment_method_id.clone()) {
            Some(card_id) => Some(
                payment_methods::find(conn, &card_id)?
                    .filter(|card| card.payer_id == payer.id && card.status == "active")
                    .ok_or_else(|| {
                        ApiError::not_found("payment method").with_param("payment_method_id")
                    })?,
            ),
            None => None,
        };
    let plan = plans::find(conn, &checkout.plan_id)?.ok_or_else(|| ApiError::not_found("plan"))?;
    let period = PlanPeriod::parse(&checkout.plan_period).unwrap_or(PlanPeriod::Month);
    let subscription = store::ensure_subscription(conn, &payer, now)?;
    let needs_card = checkout.free_trial_days.is_none() || requires_card;
    if needs_card && card.is_none() {
        return Err(ApiError::new(
            ErrorCode::PaymentMethodRequired,
            "payment method required",
            "Add a card to confirm this checkout.",
        ));
    }
    if let Some(days) = checkout.free_trial_days {
        if !payer.eligible_for_free_trial() {
            return Err(ApiError::new(
                ErrorCode::InvalidPlanChange,
                "free trial no longer available",
                "This payer has already had a free trial or paid; start a new checkout.",
            ));
        }
        end_current(conn, instance_id, &payer, now)?;
        let item = store::insert_item(
            conn,
            &subscription,
            NewItem {
                status: status::ACTIVE,
                plan: &plan,
                plan_period: period.as_str(),
                amount: checkout.amount,
                trial_days: Some(days),
                period_start: now,
                period_end: Some(now + i64::from(days) * DAY_MS),
                payment_method_id: card.as_ref().map(|c| c.id.clone()),
            },
            now,
        )?;
        diesel::update(billing_payers::table.find(&payer.id))
            .set((
                billing_payers::first_trial_at.eq(now),
                billing_payers::updated_at.eq(now),
            ))
            .execute(conn)?;
        activate(conn, instance_id, &mut checkout, &item, now)?;
        return Ok(Step::Trial);
    }
    let period_end = match period {
        PlanPeriod::Month => add_months(now, 1),
        PlanPeriod::Annual => add_months(now, 12),
    };
    let item = store::insert_item(
        conn,
        &subscription,
        NewItem {
            status: INCOMPLETE,
            plan: &plan,
            plan_period: period.as_str(),
            amount: checkout.amount,
            trial_days: None,
            period_start: now,
            period_end: Some(period_end),
            payment_method_id: card.as_ref().map(|c| c.id.clone()),
        },
        now,
    )?;
    checkout.subscription_item_id = Some(item.id.clone());
    checkout.updated_at = now;
    diesel::update(billing_checkouts::table.find(&checkout.id))
        .set(&checkout)
        .execute(conn)?;
    Ok(Step::Charge(Box::new((payer, item))))
}

/// Applies the confirmation charge's outcome: paid → the new item is the
/// current one; failed → it is abandoned and the payer stays where they
/// were; still settling → the caller hears so. A decline is committed
/// (the abandoned item stays, the checkout can be confirmed again with
/// another card) and returned as `Ok(Some(error))` for the caller to send
/// after the commit.
fn finish_confirmation(
    conn: &mut DbConnection,
    instance_id: &str,
    payer_id: &str,
    id: &str,
    charged: &Charged,
    now: i64,
) -> Result<Option<ApiError>, ApiError> {
    let payer = payers::lock(conn, payer_id)?;
    let mut checkout = load(conn, &payer.id, id)?;
    if checkout.status == "completed" {
        return Ok(None);
    }
    let item_id = checkout.subscription_item_id.clone().unwrap_or_default();
    let Some(mut item) = store::item(conn, &item_id)?.filter(|item| item.status == INCOMPLETE)
    else {
        return Ok(None);
    };
    match charged {
        Charged::Paid(_) => {
            end_current(conn, instance_id, &payer, now)?;
            item.status = status::ACTIVE.to_owned();
            item.updated_at = now;
            store::save_item(conn, &item)?;
            if payer.first_paid_at.is_none() {
                diesel::update(billing_payers::table.find(&payer.id))
                    .set((
                        billing_payers::first_paid_at.eq(now),
                        billing_payers::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            activate(conn, instance_id, &mut checkout, &item, now)?;
            Ok(None)
        }
        Charged::Failed(attempt) => {
            item.status = ABANDONED.to_owned();
            item.ended_at = Some(now);
            item.updated_at = now;
            store::save_item(conn, &item)?;
            checkout.subscription_item_id = None;
            checkout.updated_at = now;
            diesel::update(billing_checkouts::table.find(&checkout.id))
                .set(&checkout)
                .execute(conn)?;
            crate::modules::billing::lifecycle::record_item_event(
                conn,
                instance_id,
                "subscriptionItem.abandoned",
                &item,
                now,
            )?;
            Ok(Some(
                ApiError::new(
                    ErrorCode::CardDeclined,
                    "card declined",
                    format!(
                        "The payment failed ({}).",
                        attempt
                            .decline_code
                            .as_deref()
                            .or(attempt.failed_code.as_deref())
                            .unwrap_or("declined")
                    ),
                )
                .with_param("payment_method_id")
                .with_meta("decline_code", serde_json::json!(attempt.decline_code)),
            ))
        }
        Charged::Retry(_) => Err(ApiError::unavailable()),
        Charged::Pending(_) => Err(ApiError::new(
            ErrorCode::CheckoutAlreadyInProgress,
            "payment in progress",
            "The payment is still being processed; confirm again shortly.",
        )),
    }
}

/// Ends the payer's current item, if any, as a new one starts.
fn end_current(
    conn: &mut DbConnection,
    instance_id: &str,
    payer: &PayerRow,
    now: i64,
) -> Result<(), ApiError> {
    if let Some(mut current) = store::current_item(conn, &payer.id)? {
        store::end_item(conn, &mut current, now)?;
        crate::modules::billing::lifecycle::record_item_event(
            conn,
            instance_id,
            "subscriptionItem.ended",
            &current,
            now,
        )?;
    }
    Ok(())
}

/// The checkout is done: `item` (already active) is the payer's current
/// item; its event is recorded and the payer's claims pushed.
fn activate(
    conn: &mut DbConnection,
    instance_id: &str,
    checkout: &mut CheckoutRow,
    item: &ItemRow,
    now: i64,
) -> Result<(), ApiError> {
    complete(conn, checkout, item, now)?;
    crate::modules::billing::lifecycle::record_item_event(
        conn,
        instance_id,
        "subscriptionItem.active",
        item,
        now,
    )?;
    store::refresh_subscription(conn, &item.subscription_id, now)?;
    Ok(())
}

fn complete(
    conn: &mut DbConnection,
    checkout: &mut CheckoutRow,
    item: &ItemRow,
    now: i64,
) -> Result<(), ApiError> {
    checkout.status = "completed".to_owned();
    checkout.subscription_item_id = Some(item.id.clone());
    checkout.updated_at = now;
    diesel::update(billing_checkouts::table.find(&checkout.id))
        .set(&*checkout)
        .execute(conn)?;
    Ok(())
}
