//! What billing pushes to the session store: each payer's plan and its
//! features, which become the `pla` and `fea` claims (`u:pro`,
//! `o:team`, `u:exports`) of the payer's sessions' next tokens. Written
//! through the outbox in the transaction of the change, for a user payer
//! to their own scope and for an organization to the organization's (its
//! members' sessions with it active).

use diesel::prelude::*;
use serde_json::{json, Value};

use super::payers::{self, PayerRow};
use super::plans::model::PayerType;
use super::plans::store as plans;
use super::schema::{billing_payers, billing_subscription_items};
use super::subscriptions::model::status;
use super::subscriptions::store;
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::session::service::{ScopeClaims, SCOPE_CLAIMS_TOPIC};
use crate::outbox::{self, Backfill};

/// The contributor name of billing's claims in the session store.
pub const CONTRIBUTOR: &str = "billing";

fn scope_of(payer: &PayerRow) -> String {
    match (&payer.organization_id, &payer.user_id) {
        (Some(org), _) => ScopeClaims::org(org),
        (None, Some(user)) => ScopeClaims::user(user),
        (None, None) => String::new(),
    }
}

/// The payer's claims now: their current item's plan and its features.
fn claims_of(conn: &mut DbConnection, payer: &PayerRow) -> Result<Option<Value>, ApiError> {
    let Some(item) = store::current_item(conn, &payer.id)? else {
        return Ok(None);
    };
    let Some(plan) = plans::find(conn, &item.plan_id)? else {
        return Ok(None);
    };
    let scope = PayerType::parse(payer.payer_type())
        .unwrap_or(PayerType::User)
        .claim_scope();
    let features: Vec<String> = plan
        .features
        .iter()
        .map(|feature| format!("{scope}:{}", feature.slug))
        .collect();
    let mut claims = json!({"pla": format!("{scope}:{}", plan.row.slug)});
    if !features.is_empty() {
        claims["fea"] = Value::String(features.join(","));
    }
    Ok(Some(claims))
}

/// Writes, in the caller's transaction, the claims of `payer_id` as they
/// stand after the transaction's changes.
pub fn payer_changed(conn: &mut DbConnection, payer_id: &str) -> Result<(), ApiError> {
    let payer = payers::get(conn, payer_id)?;
    let scope = scope_of(&payer);
    if scope.is_empty() {
        return Ok(());
    }
    let entity = ScopeClaims::entity(&scope, CONTRIBUTOR);
    outbox::enqueue(conn, SCOPE_CLAIMS_TOPIC, &entity, |conn| {
        Ok(ScopeClaims {
            scope: scope.clone(),
            contributor: CONTRIBUTOR.to_owned(),
            claims: claims_of(conn, &payer)?,
        })
    })
}

/// [`payer_changed`] for every payer on `plan_id` now (its slug or
/// features changed).
pub fn plan_changed(conn: &mut DbConnection, plan_id: &str) -> Result<(), ApiError> {
    let mut payer_ids: Vec<String> = billing_subscription_items::table
        .filter(billing_subscription_items::plan_id.eq(plan_id))
        .filter(billing_subscription_items::status.eq_any(status::CURRENT))
        .select(billing_subscription_items::payer_id)
        .load(conn)?;
    payer_ids.sort();
    payer_ids.dedup();
    for payer_id in payer_ids {
        payer_changed(conn, &payer_id)?;
    }
    Ok(())
}

fn backfill(conn: &mut DbConnection) -> Result<(), ApiError> {
    let ids: Vec<String> = billing_payers::table
        .order(billing_payers::id)
        .select(billing_payers::id)
        .load(conn)?;
    for id in ids {
        payer_changed(conn, &id)?;
    }
    Ok(())
}

/// Every payer's claims, once, for databases with payers from before the
/// push existed.
pub const BACKFILL: Backfill = Backfill {
    name: "billing.scope_claims",
    write: backfill,
};

/// Delivers what is waiting right after a change committed, so the
/// payer's next token (clerk-js asks for one as a checkout completes)
/// shows it. Bounded by `database.primary_timeout` and never an error:
/// what it cannot deliver now, the outbox dispatcher delivers later.
pub async fn deliver_soon(state: &crate::state::AppState) {
    let deadline = state.settings.database.primary_timeout;
    let source = super::pool(state);
    let delivery = outbox::deliver(
        state,
        &source,
        &crate::modules::session::service::SCOPE_CLAIMS,
    );
    match tokio::time::timeout(deadline, delivery).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::debug!(%error, "billing claims left to the outbox dispatcher"),
        Err(_) => tracing::debug!("billing claims left to the outbox dispatcher (timed out)"),
    }
}
