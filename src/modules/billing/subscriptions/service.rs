//! Reading a payer's subscription, putting a payer without one on the
//! default plan as every new user and organization is.

use super::model::SubscriptionRow;
use super::objects::{subscription_object, SubscriptionObject};
use super::store;
use crate::db::{write_transaction, DbConnection};
use crate::http::ApiError;
use crate::modules::billing::payers::{self, PayerRef, PayerRow};
use crate::modules::billing::{pool, BillingState};
use crate::state::AppState;

/// The payer's row and subscription, made on first need: a subscription
/// whose current item is the default plan (when one is set).
pub fn ensure_payer(
    conn: &mut DbConnection,
    payer: &PayerRef,
    now: i64,
) -> Result<(PayerRow, SubscriptionRow), ApiError> {
    let row = payers::find_or_create(conn, payer, now)?;
    let subscription = store::ensure_subscription(conn, &row, now)?;
    if store::current_item(conn, &row.id)?.is_none() {
        let row = payers::lock(conn, &row.id)?;
        if store::current_item(conn, &row.id)?.is_none() {
            store::start_default_item(conn, &row, &subscription, now)?;
            store::refresh_subscription(conn, &subscription.id, now)?;
        }
    }
    Ok((row, subscription))
}

/// `GET …/billing/subscription`: the payer's subscription object.
pub async fn subscription_for(
    state: &AppState,
    payer: PayerRef,
) -> Result<SubscriptionObject, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.subscription.get", move |conn| {
            let payer = payer.clone();
            write_transaction(conn, |conn| {
                let (row, subscription) = ensure_payer(conn, &payer, now)?;
                Ok(subscription_object(
                    conn,
                    &instance_id,
                    &row,
                    &subscription,
                )?)
            })
        })
        .await
}
