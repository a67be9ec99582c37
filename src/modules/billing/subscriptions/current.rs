//! A payer's subscription as both APIs show it. A payer seen for the
//! first time is made, and a payer without a current item is put on the
//! default plan, as every new user and organization is: the answer always
//! names the plan the payer is on.

use super::objects::{self, SubscriptionObject};
use super::store;
use crate::db::write_transaction;
use crate::http::ApiError;
use crate::modules::billing::payers::{self, PayerRef};
use crate::modules::billing::{lifecycle, pool, BillingState};
use crate::state::AppState;

/// The subscription of `payer` (whose existence the caller checked).
pub async fn subscription_for(
    state: &AppState,
    payer: PayerRef,
) -> Result<SubscriptionObject, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.subscription_for", move |conn| {
            write_transaction(conn, |conn| {
                let row = payers::find_or_create(conn, &payer, now)?;
                let row = payers::lock(conn, &row.id)?;
                let subscription = store::ensure_subscription(conn, &row, now)?;
                if store::current_item(conn, &row.id)?.is_none() {
                    if let Some(item) = store::start_default_item(conn, &row, &subscription, now)? {
                        lifecycle::record_item_event(
                            conn,
                            &instance_id,
                            "subscriptionItem.active",
                            &item,
                            now,
                        )?;
                    }
                }
                let subscription = store::subscription_of(conn, &row.id)?
                    .ok_or_else(|| ApiError::not_found("subscription"))?;
                Ok(objects::subscription_object(conn, &instance_id, &row, &subscription)?)
            })
        })
        .await
}
