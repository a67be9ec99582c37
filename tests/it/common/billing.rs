//! Billing test helpers: Steward with billing on the run's localstripe, a
//! plan catalogue, and cards saved the way a browser saves them.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::fapi::FapiClient;
use super::stripe::{localstripe, SECRET_KEY};
use super::{Backend, TestApp};

/// Cards localstripe knows: charged fine, and attached fine but declined
/// when charged.
pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_ON_CHARGE: &str = "4000000000000341";

/// `[modules.billing]` on the run's localstripe, with `extra` keys, and
/// the tests' web origin allowed.
pub fn billing_toml(extra: &str) -> String {
    format!(
        "[frontend]\nallowed_origins = [\"{}\"]\n\
         [modules.billing]\nstripe_secret_key = \"{SECRET_KEY}\"\nstripe_api_base = \"{}\"\n{extra}\n",
        super::fapi::APP_ORIGIN,
        localstripe().url
    )
}

/// Steward with billing on localstripe.
pub async fn spawn(backend: Backend, extra: &str) -> TestApp {
    TestApp::spawn_with(backend, &billing_toml(extra)).await
}

/// Creates a plan through the Backend API; returns it.
pub async fn plan(app: &TestApp, body: Value) -> Value {
    let (status, plan) = app.post("/v1/billing/plans", body).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    plan
}

/// Users' free default plan, `pro` (25.00 a month, 14-day trial) and
/// `max` (90.00 a month, no trial); organizations' free default plan and
/// `team` (99.00 a month, 7-day trial).
pub async fn catalogue(app: &TestApp) {
    for body in [
        json!({"name": "Free", "slug": "free_user", "payer_type": "user", "is_default": true}),
        json!({"name": "Pro", "slug": "pro", "payer_type": "user", "fee": 2500, "annual_fee": 24000,
               "free_trial_enabled": true, "free_trial_days": 14,
               "features": [{"slug": "exports", "name": "Exports"}]}),
        json!({"name": "Max", "slug": "max", "payer_type": "user", "fee": 9000}),
        json!({"name": "Free team", "slug": "free_org", "payer_type": "org", "is_default": true}),
        json!({"name": "Team", "slug": "team", "payer_type": "org", "fee": 9900,
               "free_trial_enabled": true, "free_trial_days": 7}),
    ] {
        plan(app, body).await;
    }
}

/// `POST` a form to a Frontend API path as `session`, with `method`
/// tunnelled as clerk-js does (`_method=PATCH|PUT|DELETE`).
pub async fn call(
    client: &mut FapiClient<'_>,
    method: Method,
    path: &str,
    session: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{separator}_clerk_session_id={session}");
    if method != Method::POST && method != Method::GET {
        url.push_str(&format!("&_method={method}"));
    }
    let method = if method == Method::GET {
        Method::GET
    } else {
        Method::POST
    };
    client.call(method, &url, form).await
}

/// Saves a card for the payer under `base` (`/v1/me/billing` or
/// `/v1/organizations/{id}/billing`) as a browser does: initialize, confirm
/// the SetupIntent at Stripe with the card number, then hand the saved
/// PaymentMethod to Steward. Returns Steward's payment method object.
pub async fn save_card(
    client: &mut FapiClient<'_>,
    session: &str,
    base: &str,
    number: &str,
) -> Value {
    let (status, init) = call(
        client,
        Method::POST,
        &format!("{base}/payment_methods/initialize"),
        session,
        &[("gateway", "stripe")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{init}");
    let secret = init["response"]["external_client_secret"]
        .as_str()
        .expect("client secret")
        .to_owned();
    let intent = secret
        .split("_secret_")
        .next()
        .expect("intent id")
        .to_owned();
    let number = number.to_owned();
    let (status, confirmed) = actix_web::rt::task::spawn_blocking(move || {
        localstripe().confirm_setup_intent_as_browser(&intent, &secret, &number)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{confirmed}");
    let token = confirmed["payment_method"]
        .as_str()
        .expect("pm id")
        .to_owned();
    let (status, card) = call(
        client,
        Method::POST,
        &format!("{base}/payment_methods"),
        session,
        &[("gateway", "stripe"), ("payment_token", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    card["response"].clone()
}

/// The PaymentIntents localstripe holds for a Stripe customer.
pub async fn payment_intents(customer: &str) -> Vec<Value> {
    let customer = customer.to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        // localstripe filters lists by nothing: all of them, then ours.
        let (status, list) = localstripe().get("/v1/payment_intents?limit=10000");
        assert_eq!(status, 200, "{list}");
        list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|intent| intent["customer"] == customer.as_str())
            .cloned()
            .collect()
    })
    .await
    .unwrap()
}
