//! The Backend API's subscription items (filters, concurrent cancels and extensions), the job charging once when restarted or doubled, and @clerk/backend's billing calls.

use super::*;

on_every_backend!(
    concurrent_cancels_and_extensions_apply_one_at_a_time,
    subscription_items_are_listed_with_the_specs_filters,
    a_restarted_or_doubled_job_charges_once,
    clerk_backend_sdk_billing,
);

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
