//! The billing lifecycle against localstripe and a real SMTP server, with
//! the billing clock moved by the test: the trial-ending notice, the
//! charge at a trial's end, a declined card through its retries back to
//! the default plan, renewals, an extended trial, a trial canceled or
//! ended now, a restarted job charging once, and Stripe's webhook (a real
//! signed delivery settles a pending charge; forged, old and replayed ones
//! change nothing). On SQLite and PostgreSQL.

mod items_api;
mod support;
mod webhooks;

use futures_util::future::{join, join_all};
use reqwest::StatusCode;
use serde_json::{json, Value};
use steward::modules::billing::charges::{self, ChargeType, Charged};
use steward::modules::billing::jobs::JobReport;
use steward::modules::billing::lifecycle::period_end;
use steward::modules::billing::payers;

use self::support::*;
use crate::common::assert_error;
use crate::common::stripe::{localstripe, WebhookReceiver};
use crate::common::Backend;

on_every_backend!(
    a_trial_ends_with_a_notice_then_a_paid_period,
    a_declined_card_goes_past_due_then_back_to_the_default_plan,
    a_trial_without_a_card_ends_when_trials_need_none,
    a_running_trial_is_extended_and_not_after_it_ended,
    a_trial_canceled_runs_to_its_end_without_a_charge,
    an_item_ended_now_puts_the_payer_on_the_default_plan,
);

/// `Date.toJSON()`: RFC 3339 with milliseconds.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn a_trial_ends_with_a_notice_then_a_paid_period(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("ada@example.com", "pro", Some(GOOD_CARD))
        .await;
    let customer = s.customer.clone().unwrap();
    let end = b.item(&s.item_id).await.period_end.unwrap();

    // Four days before the end: nothing yet.
    b.set_clock(end - 4 * DAY);
    assert_eq!(b.run_job().await, JobReport::default());
    // Three days before: the notice, once.
    b.set_clock(end - 3 * DAY + 1000);
    assert_eq!(b.run_job().await.notices, 1);
    let message = b
        .smtp
        .wait_for_message(&s.email, std::time::Duration::from_secs(10));
    assert!(message.contains("free trial of Pro"), "{message}");
    assert!(message.contains("$25.00"), "{message}");
    assert_eq!(b.run_job().await.notices, 0, "one notice per trial end");
    let notice = b
        .event(&s.item_id, "subscriptionItem.freeTrialEnding")
        .await;
    assert_eq!(notice["object"], "commerce_subscription_item");
    assert_eq!(
        (
            notice["is_free_trial"].clone(),
            notice["period_end"].clone()
        ),
        (json!(true), json!(end))
    );
    assert_eq!(notice["interval"], "month");
    assert_eq!(notice["payer"]["email"], s.email.as_str());
    assert!(notice["subscription_id"].as_str().is_some());
    assert!(
        intents(&customer).is_empty(),
        "nothing charged during the trial"
    );

    // The end: the card is charged and a paid month starts.
    b.set_clock(end + 1000);
    let report = b.run_job().await;
    assert_eq!(report.renewed, 1, "{report:?}");
    let item = b.item(&s.item_id).await;
    assert_eq!(
        (item.status.as_str(), item.is_free_trial),
        ("active", false)
    );
    assert_eq!(item.period_start, end);
    assert_eq!(item.period_end, Some(period_end(end, "month")));
    let charged = intents(&customer);
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert_eq!(
        (charged[0]["amount"].clone(), charged[0]["status"].clone()),
        (json!(2500), json!("succeeded"))
    );
    let payer_id = s.payer_id.clone();
    let payer = b.db(move |conn| payers::get(conn, &payer_id)).await;
    assert!(payer.first_paid_at.is_some());
    assert!(b
        .events(&s.item_id)
        .await
        .contains(&"subscriptionItem.active".to_owned()));

    // What the Backend API shows.
    let (status, sub) = b
        .app
        .get(&format!("/v1/users/{}/billing/subscription", s.user_id))
        .await;
    assert_eq!(status, StatusCode::OK, "{sub}");
    assert_eq!(sub["object"], "commerce_subscription");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["eligible_for_free_trial"], false);
    let current = &sub["subscription_items"][0];
    assert_eq!(current["id"], s.item_id.as_str());
    assert_eq!(current["is_free_trial"], false);
    assert_eq!(current["lifetime_paid"]["amount"], 2500);
    assert_eq!(sub["next_payment"]["amount"]["amount"], 2500);
    assert_eq!(sub["next_payment"]["date"], item.period_end.unwrap());
    for key in ["canceled_at", "past_due_at", "ended_at"] {
        assert_eq!(current[key], Value::Null, "{key} is sent as null");
    }

    let (status, statements) = b.app.get("/v1/billing/statements").await;
    assert_eq!(status, StatusCode::OK, "{statements}");
    assert_eq!(statements["total_count"], 1);
    let statement = &statements["data"][0];
    assert_eq!(statement["object"], "commerce_statement");
    assert_eq!(statement["totals"]["grand_total"]["amount"], 2500);
    assert_eq!(statement["payer"]["id"], s.payer_id.as_str());
    let payment = &statement["groups"][0]["items"][0];
    assert_eq!(statement["groups"][0]["object"], "commerce_statement_group");
    assert_eq!(payment["object"], "commerce_payment");
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["charge_type"], "recurring");
    assert_eq!(payment["gateway_external_id"], charged[0]["id"]);
    let id = statement["id"].as_str().unwrap();
    let (status, one) = b.app.get(&format!("/v1/billing/statements/{id}")).await;
    assert_eq!((status, &one["id"]), (StatusCode::OK, &statement["id"]));
    let (status, attempts) = b
        .app
        .get(&format!("/v1/billing/statements/{id}/payment_attempts"))
        .await;
    assert_eq!(status, StatusCode::OK, "{attempts}");
    assert_eq!(attempts["total_count"], 1);
    assert_eq!(
        attempts["data"][0]["subscription_item_id"],
        s.item_id.as_str()
    );
    let (status, _) = b.app.get("/v1/billing/statements/stmt_nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A month later: renewed for another month, a second charge.
    b.set_clock(item.period_end.unwrap() + 1000);
    assert_eq!(b.run_job().await.renewed, 1);
    let renewed = b.item(&s.item_id).await;
    assert_eq!(renewed.period_start, item.period_end.unwrap());
    assert_eq!(intents(&customer).len(), 2);
    assert!(b
        .events(&s.item_id)
        .await
        .contains(&"subscriptionItem.updated".to_owned()));
}

async fn a_declined_card_goes_past_due_then_back_to_the_default_plan(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("bob@example.com", "pro", Some(DYING_CARD))
        .await;
    let customer = s.customer.clone().unwrap();
    let end = b.item(&s.item_id).await.period_end.unwrap();
    let sub_path = format!("/v1/users/{}/billing/subscription", s.user_id);

    b.set_clock(end + 1000);
    let report = b.run_job().await;
    assert_eq!(report.past_due, 1, "{report:?}");
    let item = b.item(&s.item_id).await;
    assert_eq!(item.status, "past_due");
    assert_eq!(item.charge_failures, 1);
    // The billing clock keeps running after it is set.
    let past_due_at = item.past_due_at.unwrap();
    assert!((end + 1000..end + 60_000).contains(&past_due_at));
    let retry_at = item.next_charge_at.unwrap();
    assert_eq!(retry_at, past_due_at + 24 * 3_600_000);
    let (_, sub) = b.app.get(&sub_path).await;
    assert_eq!(sub["status"], "past_due");
    assert_eq!(sub["subscription_items"][0]["status"], "past_due");
    assert!(b
        .events(&s.item_id)
        .await
        .contains(&"subscriptionItem.pastDue".to_owned()));

    // Not before the retry is due.
    assert_eq!(b.run_job().await, JobReport::default());
    b.set_clock(retry_at + 1000);
    assert_eq!(b.run_job().await.past_due, 1);
    assert_eq!(b.item(&s.item_id).await.charge_failures, 2);
    // The third failure (max_charge_attempts = 3) ends it.
    b.set_clock(retry_at + 25 * 3_600_000);
    assert_eq!(b.run_job().await.ended, 1);
    let item = b.item(&s.item_id).await;
    assert_eq!(item.status, "ended");
    assert!(item.ended_at.is_some());
    let default = b.current(&s.payer_id).await.expect("the default plan");
    let (_, free) = b.app.get("/v1/billing/plans/free_user").await;
    assert_eq!(default.plan_id, free["id"].as_str().unwrap());
    let (_, sub) = b.app.get(&sub_path).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["subscription_items"][0]["plan"]["slug"], "free_user");
    assert!(b
        .events(&s.item_id)
        .await
        .contains(&"subscriptionItem.ended".to_owned()));

    let tries = intents(&customer);
    assert_eq!(tries.len(), 3, "one attempt per try: {tries:?}");
    assert_eq!(paid_charges(&customer), 0);
    assert_eq!(
        b.run_job().await,
        JobReport::default(),
        "nothing left to do"
    );
}

async fn a_trial_without_a_card_ends_when_trials_need_none(backend: Backend) {
    let b = spawn(backend, "free_trial_requires_payment_method = false\n").await;
    let s = b.subscriber("cleo@example.com", "pro", None).await;
    let end = b.item(&s.item_id).await.period_end.unwrap();
    // The notice says there is nothing to charge.
    b.set_clock(end - DAY);
    assert_eq!(b.run_job().await.notices, 1);
    let message = b
        .smtp
        .wait_for_message(&s.email, std::time::Duration::from_secs(10));
    assert!(message.contains("Add a card"), "{message}");
    b.set_clock(end + 1000);
    let report = b.run_job().await;
    assert_eq!((report.ended, report.past_due), (1, 0), "{report:?}");
    assert_eq!(b.item(&s.item_id).await.status, "ended");
    let payer_id = s.payer_id.clone();
    let attempts = b
        .db(move |conn| {
            use diesel::prelude::*;
            use steward::modules::billing::schema::billing_payment_attempts as a;
            a::table
                .filter(a::payer_id.eq(&payer_id))
                .count()
                .get_result::<i64>(conn)
        })
        .await;
    assert_eq!(attempts, 0, "no charge was even attempted");
    assert!(b.current(&s.payer_id).await.is_some(), "the default plan");
}

async fn a_running_trial_is_extended_and_not_after_it_ended(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("dan@example.com", "pro", Some(GOOD_CARD))
        .await;
    let end = b.item(&s.item_id).await.period_end.unwrap();
    let path = format!(
        "/v1/billing/subscription_items/{}/extend_free_trial",
        s.item_id
    );

    b.set_clock(end - 2 * DAY);
    assert_eq!(b.run_job().await.notices, 1);

    let before = b.app.settled_row_counts().await;
    let now = b.now();
    let cases = [
        (json!({}), "form_param_missing"),
        (
            json!({"extend_to": "next week"}),
            "form_param_format_invalid",
        ),
        (
            json!({"extend_to": iso(end - DAY)}),
            "form_param_value_invalid",
        ),
        (
            json!({"extend_to": iso(now - DAY)}),
            "form_param_value_invalid",
        ),
        (
            json!({"extend_to": iso(end + 366 * DAY)}),
            "form_param_value_invalid",
        ),
        (
            json!({"extend_to": iso(end + DAY), "days": 3}),
            "form_param_unknown",
        ),
    ];
    for (body, code) in cases {
        let response = b.app.post(&path, body.clone()).await;
        assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let (status, _) = b
        .app
        .post(
            "/v1/billing/subscription_items/csubi_nothing/extend_free_trial",
            json!({"extend_to": iso(end + DAY)}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    b.app
        .assert_rows_unchanged(&before, "refused extensions")
        .await;
    assert_eq!(b.item(&s.item_id).await.period_end, Some(end));

    // Ten more days, to the millisecond; the notice goes out again for
    // the new end. Asking again for the same end changes nothing.
    let new_end = end + 10 * DAY + 123;
    let (status, item) = b.app.post(&path, json!({"extend_to": iso(new_end)})).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["object"], "commerce_subscription_item");
    assert_eq!(item["period_end"], new_end);
    assert_eq!(item["is_free_trial"], true);
    let (status, again) = b.app.post(&path, json!({"extend_to": iso(new_end)})).await;
    assert_eq!(
        (status, &again["period_end"]),
        (StatusCode::OK, &json!(new_end))
    );
    assert!(b
        .events(&s.item_id)
        .await
        .contains(&"subscriptionItem.updated".to_owned()));
    b.set_clock(end + 1000);
    assert_eq!(
        b.run_job().await,
        JobReport::default(),
        "not charged at the old end"
    );
    b.set_clock(new_end - 2 * DAY);
    assert_eq!(b.run_job().await.notices, 1, "a notice for the new end");

    // Once it is paid, the trial is over.
    b.set_clock(new_end + 1000);
    assert_eq!(b.run_job().await.renewed, 1);
    let response = b
        .app
        .post(&path, json!({"extend_to": iso(new_end + 5 * DAY)}))
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
}

async fn a_trial_canceled_runs_to_its_end_without_a_charge(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("eve@example.com", "pro", Some(GOOD_CARD))
        .await;
    let customer = s.customer.clone().unwrap();
    let end = b.item(&s.item_id).await.period_end.unwrap();
    let path = format!("/v1/billing/subscription_items/{}", s.item_id);

    b.set_clock(end - 5 * DAY);
    let (status, item) = b.app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["status"], "canceled");
    let canceled_at = item["canceled_at"].as_i64().unwrap();
    assert!((end - 5 * DAY..end - 5 * DAY + 60_000).contains(&canceled_at));
    assert_eq!(item["period_end"], end, "access until the trial's end");
    assert!(item.get("deleted").is_none());
    let (_, sub) = b
        .app
        .get(&format!("/v1/users/{}/billing/subscription", s.user_id))
        .await;
    assert_eq!(sub["subscription_items"][0]["status"], "canceled");
    assert_eq!(sub["next_payment"], Value::Null, "nothing will be charged");

    b.set_clock(end - DAY);
    assert_eq!(b.run_job().await, JobReport::default(), "no notice either");
    wait_for_plan_claim(&b.app, &s.email, "u:pro").await;
    b.set_clock(end + 1000);
    assert_eq!(b.run_job().await.ended, 1);
    wait_for_plan_claim(&b.app, &s.email, "u:free_user").await;
    assert_eq!(b.item(&s.item_id).await.status, "ended");
    assert!(intents(&customer).is_empty(), "never charged");
    let current = b.current(&s.payer_id).await.expect("the default plan");
    assert_eq!(current.amount, 0);
    let events = b.events(&s.item_id).await;
    for event in ["subscriptionItem.canceled", "subscriptionItem.ended"] {
        assert!(events.contains(&event.to_owned()), "{event}: {events:?}");
    }
    let response = b.app.delete(&path).await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
}

async fn an_item_ended_now_puts_the_payer_on_the_default_plan(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("fay@example.com", "max", Some(GOOD_CARD))
        .await;
    let (status, item) = b
        .app
        .delete(&format!(
            "/v1/billing/subscription_items/{}?end_now=true",
            s.item_id
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["status"], "ended");
    assert!(item["ended_at"].as_i64().is_some(), "{item}");
    let (_, sub) = b
        .app
        .get(&format!("/v1/users/{}/billing/subscription", s.user_id))
        .await;
    assert_eq!(sub["subscription_items"][0]["plan"]["slug"], "free_user");
    assert_eq!(sub["subscription_items"][0]["status"], "active");
    assert_eq!(sub["subscription_items"][1]["status"], "ended");
    // The default plan is not canceled.
    let default_id = sub["subscription_items"][0]["id"].as_str().unwrap();
    let response = b
        .app
        .delete(&format!("/v1/billing/subscription_items/{default_id}"))
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (status, _) = b
        .app
        .delete("/v1/billing/subscription_items/csubi_nothing")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(b.run_job().await == JobReport::default());
}

/// A `Stripe-Signature` for `body` at `timestamp` with `secret`.
fn sign(body: &[u8], timestamp: i64, secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}
