//! The billing lifecycle against localstripe and a real SMTP server, with
//! the billing clock moved by the test: the trial-ending notice, the
//! charge at a trial's end, a declined card through its retries back to
//! the default plan, renewals, an extended trial, a trial canceled or
//! ended now, a restarted job charging once, and Stripe's webhook (a real
//! signed delivery settles a pending charge; forged, old and replayed ones
//! change nothing). On SQLite and PostgreSQL.

mod support;

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
    concurrent_cancels_and_extensions_apply_one_at_a_time,
    subscription_items_are_listed_with_the_specs_filters,
    a_restarted_or_doubled_job_charges_once,
    a_signed_webhook_settles_a_pending_charge_and_forged_ones_are_refused,
    a_signed_payment_failure_puts_a_pending_charge_past_due,
    clerk_backend_sdk_billing,
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

async fn subscription_items_are_listed_with_the_specs_filters(backend: Backend) {
    let b = spawn(backend, "").await;
    let trial = b
        .subscriber("gus@example.com", "pro", Some(GOOD_CARD))
        .await;
    let paid = b
        .subscriber("hal@example.com", "max", Some(GOOD_CARD))
        .await;
    // A user seen for the first time is put on the default plan.
    let user = crate::common::user(&b.app, "ivy@example.com").await;
    let (status, sub) = b
        .app
        .get(&format!("/v1/users/{user}/billing/subscription"))
        .await;
    assert_eq!(status, StatusCode::OK, "{sub}");
    assert_eq!(sub["subscription_items"][0]["plan"]["slug"], "free_user");
    assert_eq!(sub["eligible_for_free_trial"], true);
    let (status, _) = b
        .app
        .get("/v1/users/user_nothing/billing/subscription")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = b
        .app
        .get("/v1/organizations/org_nothing/billing/subscription")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = b.app.get("/v1/billing/subscription_items").await;
    assert_eq!(all["total_count"], 2, "free items are left out: {all}");
    assert_eq!(ids(&all), [paid.item_id.clone(), trial.item_id.clone()]);
    assert_eq!(all["data"][0]["payer"]["id"], paid.payer_id.as_str());
    let (_, with_free) = b
        .app
        .get("/v1/billing/subscription_items?include_free=true")
        .await;
    // Each went through the default plan first.
    assert_eq!(with_free["total_count"], 5);
    let (_, trials) = b
        .app
        .get("/v1/billing/subscription_items?status=free_trial")
        .await;
    assert_eq!(ids(&trials), vec![trial.item_id.clone()]);
    let (_, by_email) = b.app.get("/v1/billing/subscription_items?query=HAL@").await;
    assert_eq!(ids(&by_email), vec![paid.item_id.clone()]);
    let (_, by_plan) = b.app.get("/v1/billing/subscription_items?query=pro").await;
    assert_eq!(ids(&by_plan), vec![trial.item_id.clone()]);
    let (_, orgs) = b
        .app
        .get("/v1/billing/subscription_items?payer_type=org")
        .await;
    assert_eq!(orgs["total_count"], 0);
    let (_, users) = b
        .app
        .get("/v1/billing/subscription_items?payer_type=user&limit=1&offset=1")
        .await;
    assert_eq!(
        (users["total_count"].clone(), ids(&users)),
        (json!(2), vec![trial.item_id.clone()])
    );
    let (_, free) = b.app.get("/v1/billing/plans/free_user").await;
    let (_, on_free) = b
        .app
        .get(&format!(
            "/v1/billing/subscription_items?include_free=true&plan_id={}",
            free["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(on_free["total_count"], 3);
    for bad in ["status=trialing", "payer_type=robot", "limit=0"] {
        let response = b
            .app
            .get(&format!("/v1/billing/subscription_items?{bad}"))
            .await;
        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        );
    }
}

async fn a_restarted_or_doubled_job_charges_once(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("ian@example.com", "pro", Some(GOOD_CARD))
        .await;
    let customer = s.customer.clone().unwrap();
    let end = b.item(&s.item_id).await.period_end.unwrap();
    b.set_clock(end + 1000);

    // A run that charged and died before the item changed: the attempt
    // is paid at Stripe and here, the item still on its trial.
    let item = b.item(&s.item_id).await;
    let payer_id = s.payer_id.clone();
    let payer = b.db(move |conn| payers::get(conn, &payer_id)).await;
    let charged = charges::charge(&b.app.state, &payer, &item, end, ChargeType::Recurring)
        .await
        .unwrap();
    assert!(matches!(charged, Charged::Paid(_)), "{charged:?}");
    assert!(b.item(&s.item_id).await.is_free_trial);

    // Two processes' runs at once, after the restart.
    let (first, second) = join(b.run_job(), b.run_job()).await;
    assert_eq!(first.renewed + second.renewed, 1, "{first:?} {second:?}");
    let item = b.item(&s.item_id).await;
    assert_eq!(
        (item.status.as_str(), item.is_free_trial),
        ("active", false)
    );
    assert_eq!(item.period_start, end);
    assert_eq!(intents(&customer).len(), 1, "one PaymentIntent");
    assert_eq!(paid_charges(&customer), 1, "one charge");

    // And at the next renewal, two runs at once charge once too.
    b.set_clock(item.period_end.unwrap() + 1000);
    let (first, second) = join(b.run_job(), b.run_job()).await;
    assert_eq!(first.renewed + second.renewed, 1, "{first:?} {second:?}");
    assert_eq!(paid_charges(&customer), 2);
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

async fn a_signed_webhook_settles_a_pending_charge_and_forged_ones_are_refused(backend: Backend) {
    let b = spawn(backend, "").await;
    let receiver = WebhookReceiver::start();
    let name = format!(
        "lifecycle_{}",
        steward::crypto::ids::new_id("hook").to_lowercase()
    );
    let _endpoint = localstripe().webhook(&name, &receiver.url, WEBHOOK_SECRET);
    let s = b.subscriber("jo@example.com", "pro", Some(GOOD_CARD)).await;
    let customer = s.customer.clone().unwrap();
    b.card_needs_3ds(&s).await;
    let end = b.item(&s.item_id).await.period_end.unwrap();

    // Off-session, the bank wants the payer: the charge waits.
    b.set_clock(end + 1000);
    assert_eq!(b.run_job().await.pending, 1);
    assert_eq!(
        b.run_job().await,
        JobReport::default(),
        "held until Stripe tells"
    );
    assert!(b.item(&s.item_id).await.is_free_trial);
    let intent = intents(&customer).pop().expect("the PaymentIntent");
    assert_eq!(intent["status"], "requires_action");
    let pi = intent["id"].as_str().unwrap().to_owned();

    // The payer authenticates; Stripe tells Steward.
    let (status, body) = localstripe().post(
        &format!("/v1/payment_intents/{pi}/_authenticate"),
        &[
            ("client_secret", intent["client_secret"].as_str().unwrap()),
            ("success", "true"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let wanted = pi.clone();
    let delivery = actix_web::rt::task::spawn_blocking(move || {
        receiver.wait_for(std::time::Duration::from_secs(20), |event| {
            event["type"] == "payment_intent.succeeded" && event["data"]["object"]["id"] == wanted
        })
    })
    .await
    .unwrap();

    let url = format!("{}/v1/billing/stripe/webhook", b.app.backend_url);
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut request = b
            .app
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        b.app.send(request)
    };

    // Forged, foreign, unsigned and old deliveries: 400, nothing changes.
    let before = b.app.settled_row_counts().await;
    let now_s = chrono::Utc::now().timestamp();
    let forged = String::from_utf8(delivery.body.clone())
        .unwrap()
        .replace("payment_intent.succeeded", "payment_intent.payment_failed");
    let refused = [
        post(forged.into_bytes(), Some(delivery.signature.clone())).await,
        post(
            delivery.body.clone(),
            Some(sign(&delivery.body, now_s, "whsec_someone_else")),
        )
        .await,
        post(delivery.body.clone(), None).await,
        post(
            delivery.body.clone(),
            Some(sign(&delivery.body, now_s - 600, WEBHOOK_SECRET)),
        )
        .await,
    ];
    for response in &refused {
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request");
    }
    b.app
        .assert_rows_unchanged(&before, "refused webhooks")
        .await;
    assert!(b.item(&s.item_id).await.is_free_trial);

    // The genuine delivery, with no secret key: the charge is settled and
    // the paid month starts.
    let (status, body) = post(delivery.body.clone(), Some(delivery.signature.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], false);
    let item = b.item(&s.item_id).await;
    assert_eq!(
        (item.status.as_str(), item.is_free_trial),
        ("active", false)
    );
    assert_eq!(item.period_start, end);
    assert_eq!(item.claimed_until, None);
    assert!(b
        .events(&s.item_id)
        .await
        .contains(&"subscriptionItem.active".to_owned()));

    // Delivered again (Stripe retries): handled once.
    let before = b.app.settled_row_counts().await;
    let (status, body) = post(delivery.body.clone(), Some(delivery.signature.clone())).await;
    assert_eq!((status, &body["duplicate"]), (StatusCode::OK, &json!(true)));
    b.app
        .assert_rows_unchanged(&before, "a replayed webhook")
        .await;
    assert_eq!(b.item(&s.item_id).await.period_end, item.period_end);
    assert_eq!(paid_charges(&customer), 1);

    // Only on the Backend API listener.
    let (status, _) = b
        .app
        .send(
            b.app
                .http
                .post(format!("{}/v1/billing/stripe/webhook", b.app.frontend_url))
                .body(delivery.body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn concurrent_cancels_and_extensions_apply_one_at_a_time(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("kim@example.com", "pro", Some(GOOD_CARD))
        .await;
    let end = b.item(&s.item_id).await.period_end.unwrap();
    let item_path = format!("/v1/billing/subscription_items/{}", s.item_id);
    let extend_path = format!("{item_path}/extend_free_trial");
    let end_now = format!("{item_path}?end_now=true");

    // Extensions and a cancel at once: each applies whole.
    let extensions = (1..=4).map(|days| {
        b.app
            .post(&extend_path, json!({"extend_to": iso(end + days * DAY)}))
    });
    let (extended, canceled) = join(join_all(extensions), b.app.delete(&item_path)).await;
    assert_eq!(canceled.0, StatusCode::OK, "{}", canceled.1);
    // In whatever order they ran, each saw the end the one before left:
    // an earlier end than that is refused, and the latest end wins.
    for response in extended.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        );
    }
    let item = b.item(&s.item_id).await;
    assert_eq!(item.status, "canceled");
    assert_eq!(item.period_end, Some(end + 4 * DAY), "{item:?}");

    // Ended now by several callers at once: one ends it, the others find
    // it ended, and the payer gets one default item.
    let responses = join_all((0..6).map(|_| b.app.delete(&end_now))).await;
    let ok = responses
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "{responses:?}");
    for response in responses.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        );
    }
    let (_, sub) = b
        .app
        .get(&format!("/v1/users/{}/billing/subscription", s.user_id))
        .await;
    let items = sub["subscription_items"].as_array().unwrap();
    let current: Vec<&Value> = items.iter().filter(|i| i["status"] == "active").collect();
    assert_eq!(current.len(), 1, "{sub}");
    assert_eq!(current[0]["plan"]["slug"], "free_user");
    let ended = b.events(&s.item_id).await;
    assert_eq!(
        ended
            .iter()
            .filter(|e| *e == "subscriptionItem.ended")
            .count(),
        1,
        "{ended:?}"
    );
}

async fn clerk_backend_sdk_billing(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b
        .subscriber("sdk@example.com", "pro", Some(GOOD_CARD))
        .await;
    let trial_end = b.item(&s.item_id).await.period_end.unwrap();
    let (status, org) = b
        .app
        .post(
            "/v1/organizations",
            json!({"name": "SDK Billing", "created_by": s.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    crate::sdk_compat::run_node(
        &b.app,
        "billing.test.mjs",
        vec![
            ("STEWARD_USER_ID", s.user_id.clone()),
            ("STEWARD_ITEM_ID", s.item_id.clone()),
            ("STEWARD_TRIAL_END", trial_end.to_string()),
            ("STEWARD_ORG_ID", org["id"].as_str().unwrap().to_owned()),
        ],
    )
    .await;
}

async fn a_signed_payment_failure_puts_a_pending_charge_past_due(backend: Backend) {
    let b = spawn(backend, "").await;
    let s = b.subscriber("lu@example.com", "pro", Some(GOOD_CARD)).await;
    b.card_needs_3ds(&s).await;
    let end = b.item(&s.item_id).await.period_end.unwrap();
    b.set_clock(end + 1000);
    assert_eq!(b.run_job().await.pending, 1);
    let pi = intents(s.customer.as_deref().unwrap())
        .pop()
        .expect("the PaymentIntent")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The payer gave up on 3-D Secure: Stripe reports the failure.
    let event = json!({
        "id": steward::crypto::ids::new_id("evt"),
        "object": "event",
        "type": "payment_intent.payment_failed",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": {"id": pi, "object": "payment_intent",
            "last_payment_error": {"code": "payment_intent_authentication_failure"}}}
    });
    let body = serde_json::to_vec(&event).unwrap();
    let signature = sign(&body, chrono::Utc::now().timestamp(), WEBHOOK_SECRET);
    let (status, answer) = b
        .app
        .send(
            b.app
                .http
                .post(format!("{}/v1/billing/stripe/webhook", b.app.backend_url))
                .header("stripe-signature", signature)
                .body(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let item = b.item(&s.item_id).await;
    assert_eq!(item.status, "past_due");
    assert_eq!(item.charge_failures, 1);
    assert_eq!(item.claimed_until, None);
    assert!(item.next_charge_at.is_some());
    let past_due = b.event(&s.item_id, "subscriptionItem.pastDue").await;
    assert_eq!(past_due["status"], "past_due");
}
