//! Concurrent confirmations of one checkout charge once; a plan's trial changed applies to new checkouts only.

use super::*;

on_every_backend!(
    concurrent_confirmations_charge_once,
    a_changed_trial_applies_to_new_checkouts_only,
);

async fn concurrent_confirmations_charge_once(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (mut web, session) = signed_in(&app, "barbara@example.com").await;
    save_card(&mut web, &session, ME, GOOD_CARD).await;
    let max = plan_id(&app, "max").await;
    let offer = checkout(&mut web, &session, ME, &max).await;
    let id = offer["id"].as_str().unwrap().to_owned();
    let token = web.token.clone();
    let results = join_all((0..6).map(|_| {
        let mut client = FapiClient::web(&app);
        client.token = token.clone();
        let (id, session) = (id.clone(), session.clone());
        async move {
            call(
                &mut client,
                Method::PATCH,
                &format!("{ME}/checkouts/{id}/confirm"),
                &session,
                &[],
            )
            .await
        }
    }))
    .await;
    for (status, body) in &results {
        assert!(
            *status == StatusCode::OK
                || body["errors"][0]["code"] == "checkout_already_in_progress",
            "{status} {body}"
        );
    }
    let sub = subscription(&mut web, &session, ME).await;
    let paid: Vec<&Value> = sub["subscription_items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["plan"]["slug"] == "max")
        .collect();
    assert_eq!(paid.len(), 1, "{sub}");
    let customer = customer_of(&app, sub["payer_id"].as_str().unwrap());
    assert_eq!(payment_intents(&customer).await.len(), 1);
}

async fn a_changed_trial_applies_to_new_checkouts_only(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let pro = plan_id(&app, "pro").await;
    let (mut early, early_session) = signed_in(&app, "early@example.com").await;
    save_card(&mut early, &early_session, ME, GOOD_CARD).await;
    let offer = checkout(&mut early, &early_session, ME, &pro).await;
    let (status, done) = confirm(&mut early, &early_session, ME, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let trial = done["response"]["subscription_item"].clone();
    // A checkout made before the change keeps the terms it showed.
    let (mut pending, pending_session) = signed_in(&app, "pending@example.com").await;
    save_card(&mut pending, &pending_session, ME, GOOD_CARD).await;
    let before_change = checkout(&mut pending, &pending_session, ME, &pro).await;

    let (status, _) = app
        .post(
            "/v1/billing/plans/free_trial",
            serde_json::json!({"plan_ids": [pro], "free_trial_enabled": true, "free_trial_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let unchanged = subscription(&mut early, &early_session, ME).await;
    let item = &unchanged["subscription_items"][0];
    assert_eq!(item["id"], trial["id"]);
    assert_eq!(
        item["period_end"], trial["period_end"],
        "existing subscribers see no change"
    );

    let (mut late, late_session) = signed_in(&app, "late@example.com").await;
    save_card(&mut late, &late_session, ME, GOOD_CARD).await;
    let offer = checkout(&mut late, &late_session, ME, &pro).await;
    let starts = offer["plan_period_start"].as_i64().unwrap();
    assert_eq!(
        offer["free_trial_ends_at"].as_i64().unwrap() - starts,
        30 * DAY_MS
    );
    let (status, done) = confirm(&mut late, &late_session, ME, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let item = &done["response"]["subscription_item"];
    assert_eq!(
        item["period_end"].as_i64().unwrap() - item["period_start"].as_i64().unwrap(),
        30 * DAY_MS
    );

    let (status, done) = confirm(&mut pending, &pending_session, ME, &before_change, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let item = &done["response"]["subscription_item"];
    assert_eq!(
        item["period_end"].as_i64().unwrap() - item["period_start"].as_i64().unwrap(),
        14 * DAY_MS,
        "the terms the checkout showed"
    );
}
