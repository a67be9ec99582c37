//! Stripe's webhooks into billing: a signed delivery settles a pending charge, a failed payment puts it past due, and forged, old or unsigned ones change nothing.

use super::*;

on_every_backend!(
    a_signed_webhook_settles_a_pending_charge_and_forged_ones_are_refused,
    a_signed_payment_failure_puts_a_pending_charge_past_due,
);

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
