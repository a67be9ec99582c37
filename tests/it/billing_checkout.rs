//! Billing on the Frontend API against localstripe: cards saved through a
//! SetupIntent, checkouts with and without a free trial, eligibility, a
//! declined card, organizations' billing permissions, and concurrent
//! confirmations charging once, on SQLite and PostgreSQL.

use crate::common::billing::{
    call, catalogue, payment_intents, save_card, spawn, DECLINED_ON_CHARGE, GOOD_CARD,
};
use crate::common::fapi::FapiClient;
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::Value;

on_every_backend!(
    a_card_then_a_trial_then_no_second_trial,
    a_trial_needs_a_card_unless_the_instance_lifts_it,
    a_plan_without_trial_is_charged_at_once,
    a_declined_card_leaves_the_payer_where_they_were,
);

mod concurrency_and_changes;
mod organizations;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const ME: &str = "/v1/me/billing";

/// A signed-in user on the web; returns the client and the session id.
async fn signed_in<'a>(app: &'a TestApp, email: &str) -> (FapiClient<'a>, String) {
    user(app, email).await;
    let mut client = FapiClient::web(app);
    let session = client.sign_in(email, PASSWORD).await;
    (client, session)
}

async fn plan_id(app: &TestApp, slug: &str) -> String {
    let (_, plan) = app.get(&format!("/v1/billing/plans/{slug}")).await;
    plan["id"].as_str().unwrap().to_owned()
}

/// Starts a checkout of `slug`; returns the checkout.
async fn checkout(client: &mut FapiClient<'_>, session: &str, base: &str, plan: &str) -> Value {
    let (status, body) = call(
        client,
        Method::POST,
        &format!("{base}/checkouts"),
        session,
        &[("plan_id", plan), ("plan_period", "month")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["response"].clone()
}

async fn confirm(
    client: &mut FapiClient<'_>,
    session: &str,
    base: &str,
    checkout: &Value,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let id = checkout["id"].as_str().unwrap();
    call(
        client,
        Method::PATCH,
        &format!("{base}/checkouts/{id}/confirm"),
        session,
        form,
    )
    .await
}

async fn subscription(client: &mut FapiClient<'_>, session: &str, base: &str) -> Value {
    let (status, body) = call(
        client,
        Method::GET,
        &format!("{base}/subscription"),
        session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["response"].clone()
}

/// The Stripe customer of the payer with this card.
fn customer_of(app: &TestApp, payer_id: &str) -> String {
    use diesel::prelude::*;
    use steward::modules::billing::schema::billing_payers;
    let mut conn = app
        .state
        .db
        .for_module(steward::modules::Module::Billing)
        .get_blocking()
        .unwrap();
    billing_payers::table
        .find(payer_id)
        .select(billing_payers::gateway_customer_id)
        .first::<Option<String>>(&mut *conn)
        .unwrap()
        .expect("a customer at Stripe")
}

async fn a_card_then_a_trial_then_no_second_trial(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (mut web, session) = signed_in(&app, "ada@example.com").await;

    // On the free plan from the start, and eligible for a trial.
    let before = subscription(&mut web, &session, ME).await;
    assert_eq!(before["object"], "commerce_subscription");
    assert_eq!(before["status"], "active");
    assert_eq!(before["eligible_for_free_trial"], true);
    assert_eq!(before["subscription_items"][0]["plan"]["slug"], "free_user");
    assert_eq!(before["next_payment"], Value::Null);

    let card = save_card(&mut web, &session, ME, GOOD_CARD).await;
    assert_eq!(card["object"], "commerce_payment_method");
    assert_eq!(
        (
            card["last4"].clone(),
            card["card_type"].clone(),
            card["is_default"].clone()
        ),
        (Value::from("4242"), Value::from("visa"), Value::from(true))
    );
    let (_, cards) = call(
        &mut web,
        Method::GET,
        &format!("{ME}/payment_methods"),
        &session,
        &[],
    )
    .await;
    assert_eq!(cards["response"]["total_count"], 1);

    let pro = plan_id(&app, "pro").await;
    let offer = checkout(&mut web, &session, ME, &pro).await;
    assert_eq!(offer["object"], "commerce_checkout");
    assert_eq!(offer["status"], "needs_confirmation");
    assert_eq!(offer["needs_payment_method"], false, "a card is on file");
    let trial_end = offer["free_trial_ends_at"]
        .as_i64()
        .expect("a trial applies");
    assert_eq!(offer["totals"]["total_due_now"]["amount"], 0);
    assert_eq!(
        offer["totals"]["total_due_after_free_trial"]["amount"],
        2500
    );

    let (status, done) = confirm(&mut web, &session, ME, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let done = &done["response"];
    assert_eq!(done["status"], "completed");
    let item = &done["subscription_item"];
    assert_eq!(
        (item["status"].clone(), item["is_free_trial"].clone()),
        (Value::from("active"), Value::from(true))
    );
    let period_end = item["period_end"].as_i64().unwrap();
    assert!(
        (period_end - trial_end).abs() < 60_000,
        "{period_end} vs {trial_end}"
    );
    assert!((period_end - item["period_start"].as_i64().unwrap() - 14 * DAY_MS).abs() < 1000);

    let after = subscription(&mut web, &session, ME).await;
    assert_eq!(after["eligible_for_free_trial"], false);
    let items = after["subscription_items"].as_array().unwrap();
    assert_eq!(items[0]["plan"]["slug"], "pro");
    assert_eq!(items[1]["status"], "ended", "the free plan ended");
    assert_eq!(after["next_payment"]["amount"]["amount"], 2500);
    assert_eq!(after["next_payment"]["date"], period_end);
    // Nothing was charged.
    let customer = customer_of(&app, after["payer_id"].as_str().unwrap());
    assert!(payment_intents(&customer).await.is_empty());

    // A second trial is refused: another trial plan is charged at once.
    let (_, changed) = app
        .patch(
            "/v1/billing/plans/max",
            serde_json::json!({"free_trial_enabled": true, "free_trial_days": 30}),
        )
        .await;
    assert_eq!(changed["free_trial_days"], 30);
    let max = plan_id(&app, "max").await;
    let offer = checkout(&mut web, &session, ME, &max).await;
    assert_eq!(offer["free_trial_ends_at"], Value::Null, "{offer}");
    assert_eq!(offer["totals"]["total_due_now"]["amount"], 9000);
    let (status, done) = confirm(&mut web, &session, ME, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done["response"]["subscription_item"]["is_free_trial"],
        false
    );
    assert_eq!(
        done["response"]["subscription_item"]["lifetime_paid"]["amount"],
        9000
    );
    let intents = payment_intents(&customer).await;
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0]["amount"], 9000);
}

async fn a_trial_needs_a_card_unless_the_instance_lifts_it(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (mut web, session) = signed_in(&app, "grace@example.com").await;
    let pro = plan_id(&app, "pro").await;
    let offer = checkout(&mut web, &session, ME, &pro).await;
    assert_eq!(offer["needs_payment_method"], true);
    let before = app.settled_row_counts().await;
    let refused = confirm(&mut web, &session, ME, &offer, &[]).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment_method_required",
    );
    let unknown_card = confirm(
        &mut web,
        &session,
        ME,
        &offer,
        &[("payment_method_id", "cpm_nothing")],
    )
    .await;
    assert_eq!(unknown_card.0, StatusCode::NOT_FOUND);
    app.assert_rows_unchanged(&before, "refused confirmations")
        .await;
    let plan = subscription(&mut web, &session, ME).await;
    assert_eq!(plan["subscription_items"][0]["plan"]["slug"], "free_user");

    // With the requirement lifted, the trial starts without a card.
    let lenient = spawn(backend, "free_trial_requires_payment_method = false").await;
    catalogue(&lenient).await;
    let (mut web, session) = signed_in(&lenient, "linus@example.com").await;
    let pro = plan_id(&lenient, "pro").await;
    let offer = checkout(&mut web, &session, ME, &pro).await;
    assert_eq!(offer["needs_payment_method"], false);
    let (status, done) = confirm(&mut web, &session, ME, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["response"]["subscription_item"]["is_free_trial"], true);
    assert_eq!(
        done["response"]["subscription_item"]["payment_method"],
        Value::Null
    );
}

async fn a_plan_without_trial_is_charged_at_once(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (mut web, session) = signed_in(&app, "alan@example.com").await;
    let max = plan_id(&app, "max").await;
    // The card comes with the confirmation, as clerk-js sends it.
    let offer = checkout(&mut web, &session, ME, &max).await;
    assert_eq!(offer["needs_payment_method"], true);
    let token = actix_web::rt::task::spawn_blocking(|| {
        crate::common::stripe::localstripe().create_card(GOOD_CARD)
    })
    .await
    .unwrap();
    let (status, done) = confirm(
        &mut web,
        &session,
        ME,
        &offer,
        &[("gateway", "stripe"), ("payment_token", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let item = &done["response"]["subscription_item"];
    assert_eq!(item["status"], "active");
    assert_eq!(item["is_free_trial"], false);
    assert_eq!(item["amount"]["amount"], 9000);
    let sub = subscription(&mut web, &session, ME).await;
    assert_eq!(
        sub["eligible_for_free_trial"], false,
        "a payer that paid gets no trial"
    );
    // The same plan again is refused.
    let (status, body) = call(
        &mut web,
        Method::POST,
        &format!("{ME}/checkouts"),
        &session,
        &[("plan_id", &max)],
    )
    .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_plan_change",
    );
    // A repeated confirmation changes nothing and charges nothing more.
    let (status, again) = confirm(&mut web, &session, ME, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["response"]["subscription_item"]["id"], item["id"]);
    let customer = customer_of(&app, sub["payer_id"].as_str().unwrap());
    assert_eq!(payment_intents(&customer).await.len(), 1);

    // The payer's statement and payment attempt.
    let (status, statements) = call(
        &mut web,
        Method::GET,
        &format!("{ME}/statements"),
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{statements}");
    let statement = &statements["response"]["data"][0];
    assert_eq!(statements["response"]["total_count"], 1);
    assert_eq!(statement["object"], "commerce_statement");
    assert_eq!(statement["totals"]["grand_total"]["amount"], 9000);
    let statement_id = statement["id"].as_str().unwrap().to_owned();
    let (status, payments) = call(
        &mut web,
        Method::GET,
        &format!("{ME}/payment_attempts"),
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{payments}");
    assert!(
        payments.get("response").is_none(),
        "not enveloped, as clerk-js reads it"
    );
    assert_eq!(payments["total_count"], 1);
    assert_eq!(payments["data"][0]["status"], "paid");
    assert_eq!(payments["data"][0]["charge_type"], "checkout");

    // Nobody else sees or cancels them.
    let (mut other, other_session) = signed_in(&app, "mallory@example.com").await;
    let (status, _) = call(
        &mut other,
        Method::GET,
        &format!("{ME}/statements/{statement_id}"),
        &other_session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let item_id = item["id"].as_str().unwrap();
    let (status, _) = call(
        &mut other,
        Method::DELETE,
        &format!("{ME}/subscription_items/{item_id}"),
        &other_session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The payer cancels: it runs to the end of the paid month.
    let (status, canceled) = call(
        &mut web,
        Method::DELETE,
        &format!("{ME}/subscription_items/{item_id}"),
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["response"]["status"], "canceled");
    assert_eq!(canceled["response"]["period_end"], item["period_end"]);
    let sub = subscription(&mut web, &session, ME).await;
    assert_eq!(
        sub["next_payment"],
        Value::Null,
        "a canceled item does not renew"
    );
}

async fn a_declined_card_leaves_the_payer_where_they_were(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (mut web, session) = signed_in(&app, "edsger@example.com").await;
    save_card(&mut web, &session, ME, DECLINED_ON_CHARGE).await;
    let max = plan_id(&app, "max").await;
    let offer = checkout(&mut web, &session, ME, &max).await;
    let declined = confirm(&mut web, &session, ME, &offer, &[]).await;
    assert_error(&declined, StatusCode::UNPROCESSABLE_ENTITY, "card_declined");
    let sub = subscription(&mut web, &session, ME).await;
    let current: Vec<&Value> = sub["subscription_items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["status"] == "active")
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["plan"]["slug"], "free_user");
    assert_eq!(
        sub["eligible_for_free_trial"], true,
        "a failed payment is not a payment"
    );

    // Another card completes the same checkout.
    let good = save_card(&mut web, &session, ME, GOOD_CARD).await;
    let good_id = good["id"].as_str().unwrap();
    let (status, done) = confirm(
        &mut web,
        &session,
        ME,
        &offer,
        &[("payment_method_id", good_id)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["response"]["subscription_item"]["plan"]["slug"], "max");
}
