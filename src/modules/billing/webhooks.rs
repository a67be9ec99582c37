//! `POST /v1/billing/stripe/webhook`: Stripe's events in.
//!
//! Mounted on the Backend API listener but outside its secret-key scope
//! (Stripe has no Steward key): the `Stripe-Signature` header is the
//! caller's proof, checked against the endpoint's signing secret before
//! the body is read as an event, with Stripe's tolerance on its
//! timestamp against real time (not the billing clock, which tests move).
//! A bad, forged or old delivery gets 400 and changes nothing.
//!
//! Each event id is handled once: its row in `billing_gateway_events` is
//! inserted in the same transaction as its effect, so a redelivery (Stripe
//! retries until it gets a 2xx) finds it and does nothing, and a failure
//! half-way rolls both back for the retry. `payment_intent.succeeded` and
//! `payment_intent.payment_failed` settle the attempt that was pending on
//! that PaymentIntent and apply it to its item as the lifecycle job would;
//! other events are acknowledged and recorded.

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::charges::{self, AttemptRow, Settlement};
use super::lifecycle::{self, Applied};
use super::schema::{billing_gateway_events, billing_payment_attempts as attempts};
use super::stripe::WebhookEvent;
use super::subscriptions::store;
use super::{pool, BillingState};
use crate::db::{on_backend, write_transaction, DbConnection};
use crate::http::error::ErrorCode;
use crate::http::ApiError;
use crate::state::AppState;

pub const PATH: &str = "/v1/billing/stripe/webhook";

/// Mounts the webhook on the app (full path, see `modules::Area::webhooks`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::post().to(stripe_webhook));
}

fn refused(detail: &str) -> ApiError {
    ApiError::new(
        ErrorCode::BadRequest,
        "Invalid webhook",
        format!("The Stripe webhook was refused: {detail}."),
    )
}

async fn stripe_webhook(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let billing = BillingState::of(&state)?;
    // Without a secret every signature would be an HMAC with an empty key:
    // refuse rather than accept what anyone can sign.
    let gateway = billing
        .gateway
        .as_ref()
        .filter(|_| !billing.settings.stripe_webhook_secret.is_empty())
        .ok_or_else(|| refused("no webhook signing secret is configured"))?;
    let header = request
        .headers()
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let real_now = crate::time::now_ms() / 1000;
    let event = gateway
        .verify_webhook(&body, header, real_now)
        .map_err(|error| {
            tracing::info!(%error, "Stripe webhook refused");
            refused(&error.to_string())
        })?;
    let handled = handle(&state, event).await?;
    if handled {
        super::push::deliver_soon(&state).await;
    }
    Ok(HttpResponse::Ok().json(json!({ "received": true, "duplicate": !handled })))
}

/// What a PaymentIntent event says about its attempt.
fn settlement(event: &WebhookEvent) -> Option<Settlement> {
    let intent = event.object_id.clone()?;
    match event.event_type.as_str() {
        "payment_intent.succeeded" => Some(Settlement::paid(intent)),
        "payment_intent.payment_failed" => {
            let error = event.payload.pointer("/data/object/last_payment_error");
            let text = |key: &str| {
                error
                    .and_then(|e| e.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            Some(Settlement::failed(
                Some(intent),
                text("code").unwrap_or_else(|| "card_declined".to_owned()),
                text("decline_code"),
            ))
        }
        _ => None,
    }
}

/// The attempt a PaymentIntent event is about: by the PaymentIntent id
/// recorded on it, or by the attempt id Steward put in the intent's
/// metadata (a charge whose answer never reached Steward).
fn attempt_for(conn: &mut DbConnection, event: &WebhookEvent) -> QueryResult<Option<AttemptRow>> {
    if let Some(intent) = &event.object_id {
        let found = attempts::table
            .filter(attempts::gateway_external_id.eq(intent))
            .select(AttemptRow::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let Some(id) = event
        .payload
        .pointer("/data/object/metadata/steward_payment_attempt")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    attempts::table
        .find(id)
        .select(AttemptRow::as_select())
        .first(conn)
        .optional()
}

/// Handles `event` once; false when it had been handled already.
async fn handle(state: &AppState, event: WebhookEvent) -> Result<bool, ApiError> {
    let billing = BillingState::of(state)?;
    let settings = billing.settings.clone();
    let now = billing.clock.now_ms();
    let instance_id = state.instance.id.clone();
    // A redelivery is answered from a read, without a write transaction;
    // the insert below still decides when two deliveries race.
    let event_id = event.id.clone();
    let seen = pool(state)
        .run("billing.webhooks.seen", move |conn| {
            billing_gateway_events::table
                .find(&event_id)
                .select(billing_gateway_events::id)
                .first::<String>(conn)
                .optional()
                .map_err(ApiError::from)
        })
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    pool(state)
        .run("billing.webhooks.stripe", move |conn| {
            write_transaction(conn, |conn| {
                let first = on_backend!(conn, c => diesel::insert_into(billing_gateway_events::table)
                    .values((
                        billing_gateway_events::id.eq(&event.id),
                        billing_gateway_events::event_type.eq(&event.event_type),
                        billing_gateway_events::received_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c))?;
                if first == 0 {
                    return Ok(false);
                }
                let Some(how) = settlement(&event) else {
                    return Ok(true);
                };
                let Some(attempt) = attempt_for(conn, &event)? else {
                    // A PaymentIntent Steward did not make (or another
                    // instance's): nothing here to settle.
                    return Ok(true);
                };
                let settled = charges::settle_in(conn, &attempt.idempotency_key, &how, now)?;
                if let Some(mut item) = store::lock_item(conn, &settled.subscription_item_id)? {
                    let applied = lifecycle::apply_settled(
                        conn,
                        &instance_id,
                        &settings,
                        &mut item,
                        &settled,
                        now,
                    )?;
                    if applied != Applied::Stale {
                        tracing::info!(item = %item.id, ?applied, "Stripe webhook settled a charge");
                    }
                }
                Ok::<_, ApiError>(true)
            })
        })
        .await
}
