//! The payment gateway (`modules::billing::stripe`) against localstripe:
//! a card saved through a SetupIntent confirmed as Stripe.js would, the
//! customer's cards, off-session charges (paid, declined, needing the
//! payer, Stripe unreachable), idempotency keys, and webhook signatures on
//! real deliveries.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;
use steward::modules::billing::stripe::{
    ChargeOutcome, ChargeRequest, GatewayConfig, GatewayError, PaymentGateway, Secret, SetupStatus,
    WebhookError, PAYER_METADATA_KEY,
};

use crate::common::stripe::{gateway, localstripe, WebhookReceiver};

const WEBHOOK_SECRET: &str = "whsec_steward_gateway_tests";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A payer id no other test uses.
fn payer() -> String {
    steward::crypto::ids::new_id("user")
}

fn charge<'a>(customer: &'a str, payment_method: &'a str, key: &'a str) -> ChargeRequest<'a> {
    ChargeRequest {
        customer,
        payment_method,
        amount: 2500,
        currency: "usd",
        idempotency_key: key,
        metadata: HashMap::from([("subscription_item".to_owned(), "csi_test".to_owned())]),
    }
}

/// A customer with a card saved through a SetupIntent and attached: the
/// path a payer's browser and billing take together.
async fn customer_with_card(gateway: &PaymentGateway, card_number: &str) -> (String, String) {
    let customer = gateway.create_customer(&payer()).await.unwrap();
    let intent = gateway.create_setup_intent(&customer).await.unwrap();
    let (status, body) = localstripe().confirm_setup_intent_as_browser(
        &intent.id,
        intent.client_secret.expose_secret(),
        card_number,
    );
    assert_eq!(status, 200, "browser confirmation: {body}");
    let state = gateway.retrieve_setup_intent(&intent.id).await.unwrap();
    let payment_method = state.payment_method.expect("the saved card");
    gateway
        .attach_payment_method(&payment_method, &customer)
        .await
        .unwrap();
    (customer, payment_method)
}

/// The customer's PaymentIntents and charges, as localstripe records them.
fn recorded(customer: &str) -> (Vec<Value>, Vec<Value>) {
    let (_, intents) = localstripe().get("/v1/payment_intents?limit=10000");
    let intents = intents["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["customer"] == customer)
        .cloned()
        .collect();
    let (_, charges) = localstripe().get(&format!("/v1/charges?customer={customer}&limit=10000"));
    (intents, charges["data"].as_array().unwrap().clone())
}

#[tokio::test]
async fn a_card_saved_through_a_setup_intent_is_listed_and_can_be_the_default() {
    let gateway = gateway(WEBHOOK_SECRET);
    let payer = payer();
    let customer = gateway.create_customer(&payer).await.unwrap();
    assert!(customer.starts_with("cus_"), "{customer}");
    let (_, stored) = localstripe().get(&format!("/v1/customers/{customer}"));
    assert_eq!(stored["metadata"][PAYER_METADATA_KEY], payer.as_str());

    let intent = gateway.create_setup_intent(&customer).await.unwrap();
    assert!(intent.id.starts_with("seti_"));
    let secret = intent.client_secret.expose_secret().to_owned();
    assert!(secret.starts_with(&intent.id), "a client secret: {secret}");
    assert!(!format!("{intent:?}").contains(&secret), "Debug hides it");
    let before = gateway.retrieve_setup_intent(&intent.id).await.unwrap();
    assert_eq!(before.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(before.payment_method, None);

    let (status, body) =
        localstripe().confirm_setup_intent_as_browser(&intent.id, &secret, "4242424242424242");
    assert_eq!(status, 200, "{body}");
    let after = gateway.retrieve_setup_intent(&intent.id).await.unwrap();
    assert_eq!(after.status, SetupStatus::Succeeded);
    assert_eq!(after.customer.as_deref(), Some(customer.as_str()));
    let payment_method = after.payment_method.expect("the saved card");

    let card = gateway
        .attach_payment_method(&payment_method, &customer)
        .await
        .unwrap();
    assert_eq!(card.id, payment_method);
    assert_eq!(card.customer.as_deref(), Some(customer.as_str()));
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    assert_eq!((card.exp_month, card.exp_year), (12, 2034));
    assert!(card.fingerprint.is_some());

    let cards = gateway.list_cards(&customer).await.unwrap();
    assert_eq!(cards, vec![card.clone()]);
    assert_eq!(
        gateway
            .retrieve_payment_method(&payment_method)
            .await
            .unwrap(),
        card
    );

    gateway
        .set_default_payment_method(&customer, &payment_method)
        .await
        .unwrap();
    let (_, stored) = localstripe().get(&format!("/v1/customers/{customer}"));
    assert_eq!(
        stored["invoice_settings"]["default_payment_method"],
        payment_method.as_str()
    );

    gateway
        .detach_payment_method(&payment_method)
        .await
        .unwrap();
    assert!(gateway.list_cards(&customer).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_same_card_has_the_same_fingerprint_in_every_customer() {
    let gateway = gateway(WEBHOOK_SECRET);
    let (first, pm1) = customer_with_card(&gateway, "4242424242424242").await;
    let (second, pm2) = customer_with_card(&gateway, "4242424242424242").await;
    let one = gateway.list_cards(&first).await.unwrap();
    let two = gateway.list_cards(&second).await.unwrap();
    assert_eq!(
        (one[0].id.as_str(), two[0].id.as_str()),
        (pm1.as_str(), pm2.as_str())
    );
    assert_eq!(one[0].fingerprint, two[0].fingerprint);
}

#[tokio::test]
async fn an_off_session_charge_succeeds_once_per_idempotency_key() {
    let gateway = gateway(WEBHOOK_SECRET);
    let (customer, payment_method) = customer_with_card(&gateway, "4242424242424242").await;
    let key = format!("csi_test:2026-12:{customer}");

    let first = gateway
        .charge(&charge(&customer, &payment_method, &key))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded { payment_intent } = &first else {
        panic!("expected a paid charge, got {first:?}");
    };
    // A job killed after Stripe charged and restarted sends the same key.
    let again = gateway
        .charge(&charge(&customer, &payment_method, &key))
        .await
        .unwrap();
    assert_eq!(again, first, "the first result, replayed");

    let (intents, charges) = recorded(&customer);
    assert_eq!(intents.len(), 1, "one PaymentIntent: {intents:?}");
    assert_eq!(intents[0]["id"], payment_intent.as_str());
    assert_eq!(intents[0]["amount"], 2500);
    assert_eq!(intents[0]["metadata"]["subscription_item"], "csi_test");
    assert_eq!(charges.len(), 1, "one charge: {charges:?}");

    // Another period is another key: another charge.
    let next = gateway
        .charge(&charge(&customer, &payment_method, &format!("{key}:next")))
        .await
        .unwrap();
    assert!(matches!(&next, ChargeOutcome::Succeeded { payment_intent: p } if p != payment_intent));
    assert_eq!(recorded(&customer).1.len(), 2);

    // The same key with other parameters is a caller bug, not a charge.
    let mut changed = charge(&customer, &payment_method, &key);
    changed.amount = 9900;
    assert!(matches!(
        gateway.charge(&changed).await,
        Err(GatewayError::IdempotencyMismatch)
    ));
    assert_eq!(recorded(&customer).1.len(), 2);
}

#[tokio::test]
async fn a_declined_card_is_a_declined_outcome_with_stripes_codes() {
    let gateway = gateway(WEBHOOK_SECRET);
    let customer = gateway.create_customer(&payer()).await.unwrap();

    // 4000000000000002 is refused as soon as it is attached ...
    let declined = localstripe().create_card("4000000000000002");
    match gateway.attach_payment_method(&declined, &customer).await {
        Err(GatewayError::CardDeclined { code, .. }) => {
            assert_eq!(code.as_deref(), Some("card_declined"))
        }
        other => panic!("expected a declined card, got {other:?}"),
    }
    // ... and at every charge.
    let outcome = gateway
        .charge(&charge(
            &customer,
            &declined,
            &format!("decline:{customer}"),
        ))
        .await
        .unwrap();
    let ChargeOutcome::Declined {
        payment_intent,
        code,
        decline_code,
        message,
    } = outcome
    else {
        panic!("expected a decline, got {outcome:?}");
    };
    assert_eq!(code.as_deref(), Some("card_declined"));
    assert_eq!(decline_code.as_deref(), Some("generic_decline"));
    assert!(message.is_some_and(|m| !m.is_empty()));
    let payment_intent = payment_intent.expect("the failed PaymentIntent");
    let (intents, _) = recorded(&customer);
    let failed = intents.iter().find(|i| i["id"] == payment_intent.as_str());
    assert_eq!(failed.unwrap()["status"], "requires_payment_method");

    // 4000000000000341 attaches, then every charge fails: what a trial's
    // end meets when the card died in the meantime.
    let (customer, card) = customer_with_card(&gateway, "4000000000000341").await;
    let outcome = gateway
        .charge(&charge(&customer, &card, &format!("decline:{customer}")))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, ChargeOutcome::Declined { code: Some(c), .. } if c == "card_declined"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_browser_confirmation_with_a_declined_card_saves_nothing() {
    let gateway = gateway(WEBHOOK_SECRET);
    let customer = gateway.create_customer(&payer()).await.unwrap();
    let intent = gateway.create_setup_intent(&customer).await.unwrap();
    let (status, body) = localstripe().confirm_setup_intent_as_browser(
        &intent.id,
        intent.client_secret.expose_secret(),
        "4000000000000002",
    );
    assert_eq!(status, 402, "{body}");
    let state = gateway.retrieve_setup_intent(&intent.id).await.unwrap();
    assert_ne!(state.status, SetupStatus::Succeeded);
    assert!(gateway.list_cards(&customer).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_card_that_needs_the_payer_is_not_charged_off_session() {
    let gateway = gateway(WEBHOOK_SECRET);
    let customer = gateway.create_customer(&payer()).await.unwrap();
    let card = localstripe().create_card("4000002500003155");
    gateway
        .attach_payment_method(&card, &customer)
        .await
        .unwrap();
    let outcome = gateway
        .charge(&charge(&customer, &card, &format!("3ds:{customer}")))
        .await
        .unwrap();
    assert!(
        matches!(outcome, ChargeOutcome::RequiresAction { .. }),
        "{outcome:?}"
    );
    assert!(recorded(&customer).1.is_empty(), "no charge");
}

#[tokio::test]
async fn stripe_out_of_reach_is_a_transient_outcome() {
    let closed = crate::common::postgres::free_port();
    let gateway = PaymentGateway::new(&GatewayConfig {
        secret_key: Secret::new("sk_test_unreachable"),
        api_base: Some(format!("http://127.0.0.1:{closed}")),
        webhook_secret: Secret::new(WEBHOOK_SECRET),
    })
    .unwrap();
    let outcome = gateway
        .charge(&charge("cus_x", "pm_x", "transient"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, ChargeOutcome::Transient { .. }),
        "{outcome:?}"
    );
    let error = gateway.create_customer("user_x").await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
}

async fn create_customer_route(gateway: web::Data<PaymentGateway>) -> HttpResponse {
    match gateway.create_customer(&payer()).await {
        Ok(customer) => HttpResponse::Ok().body(customer),
        Err(error) => HttpResponse::InternalServerError().body(error.to_string()),
    }
}

/// As the billing area will use it: one gateway per process, shared by
/// actix's workers, each running its own single-threaded runtime.
#[actix_web::test]
async fn one_gateway_serves_every_actix_worker() {
    let gateway = web::Data::new(gateway(WEBHOOK_SECRET));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(gateway.clone())
            .route("/customers", web::post().to(create_customer_route))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    for _ in 0..6 {
        // A new connection each time, so both workers take some.
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/customers"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        assert!(body.starts_with("cus_"), "{body}");
    }
    handle.stop(true).await;
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = GatewayConfig {
        secret_key: Secret::new("sk_test_do_not_print"),
        api_base: None,
        webhook_secret: Secret::new("whsec_do_not_print"),
    };
    let printed = format!("{config:?} {:?}", PaymentGateway::new(&config).unwrap());
    assert!(!printed.contains("do_not_print"), "{printed}");
    assert!(printed.contains("***"), "{printed}");
}

#[tokio::test]
async fn a_signed_delivery_verifies_and_forged_or_old_ones_do_not() {
    let gateway = gateway(WEBHOOK_SECRET);
    let receiver = WebhookReceiver::start();
    let name = format!("gateway_{}", payer().to_lowercase());
    let _endpoint = localstripe().webhook(&name, &receiver.url, WEBHOOK_SECRET);

    let (customer, payment_method) = customer_with_card(&gateway, "4242424242424242").await;
    let outcome = gateway
        .charge(&charge(
            &customer,
            &payment_method,
            &format!("hook:{customer}"),
        ))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded { payment_intent } = outcome else {
        panic!("expected a paid charge, got {outcome:?}");
    };
    let delivery = tokio::task::spawn_blocking(move || {
        receiver.wait_for(Duration::from_secs(15), |event| {
            event["type"] == "payment_intent.succeeded"
                && event["data"]["object"]["id"] == payment_intent.as_str()
        })
    })
    .await
    .unwrap();

    // Genuine and fresh.
    let event = gateway
        .verify_webhook(&delivery.body, &delivery.signature, now())
        .expect("a genuine delivery verifies");
    assert!(event.id.starts_with("evt_"), "{}", event.id);
    assert_eq!(event.event_type, "payment_intent.succeeded");
    assert_eq!(
        event.object_id,
        delivery.json()["data"]["object"]["id"]
            .as_str()
            .map(str::to_owned)
    );

    // The body changed in transit.
    let forged = String::from_utf8(delivery.body.clone())
        .unwrap()
        .replace("\"amount\": 2500", "\"amount\": 1");
    assert_ne!(forged.as_bytes(), delivery.body.as_slice());
    assert_eq!(
        gateway.verify_webhook(forged.as_bytes(), &delivery.signature, now()),
        Err(WebhookError::SignatureMismatch)
    );
    // Signed with another endpoint's secret.
    assert_eq!(
        crate::common::stripe::gateway("whsec_another_endpoint").verify_webhook(
            &delivery.body,
            &delivery.signature,
            now()
        ),
        Err(WebhookError::SignatureMismatch)
    );
    // The genuine delivery captured and sent again ten minutes later.
    assert!(matches!(
        gateway.verify_webhook(&delivery.body, &delivery.signature, now() + 600),
        Err(WebhookError::OutsideTolerance { .. })
    ));
    // No signature at all.
    assert_eq!(
        gateway.verify_webhook(&delivery.body, "", now()),
        Err(WebhookError::MalformedHeader)
    );
}
