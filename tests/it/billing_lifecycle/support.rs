//! Set-up for the lifecycle tests: Steward with billing on the run's
//! localstripe and an SMTP capture server, subscribers who went through
//! the Frontend API's checkout, and readers of what changed.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use steward::db::DbConnection;
use steward::http::ApiError;
use steward::ids::UserId;
use steward::modules::billing::jobs::{self, JobReport};
use steward::modules::billing::payers::{self, PayerRef};
use steward::modules::billing::subscriptions::model::ItemRow;
use steward::modules::billing::subscriptions::store;
use steward::modules::billing::{events, BillingState};
use steward::modules::Module;

use crate::common::billing::{billing_toml, call, catalogue, save_card};
use crate::common::fapi::FapiClient;
use crate::common::smtp::SmtpCapture;
use crate::common::stripe::localstripe;
use crate::common::{Backend, TestApp, PASSWORD};

const ME: &str = "/v1/me/billing";

pub const WEBHOOK_SECRET: &str = "whsec_steward_lifecycle_tests";
pub const DAY: i64 = 86_400_000;
/// Attaches, then every charge is declined.
pub use crate::common::billing::{DECLINED_ON_CHARGE as DYING_CARD, GOOD_CARD};
/// Needs 3-D Secure: an off-session charge waits for the payer.
pub const THREE_DS_CARD: &str = "4000002500003155";

pub struct Billing {
    pub app: TestApp,
    pub smtp: SmtpCapture,
}

/// Steward with billing on localstripe, mail to a capture server, and the
/// background job far enough away that only the test runs it.
pub async fn spawn(backend: Backend, extra_billing_toml: &str) -> Billing {
    let smtp = SmtpCapture::start();
    let billing = billing_toml(&format!(
        "stripe_webhook_secret = \"{WEBHOOK_SECRET}\"\njob_interval_seconds = 86400\n{extra_billing_toml}"
    ));
    let config = format!("[email]\nsmtp_url = \"{}\"\n{billing}", smtp.url);
    let app = TestApp::spawn_with(backend, &config).await;
    catalogue(&app).await;
    Billing { app, smtp }
}

/// A payer on a plan.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub user_id: String,
    pub email: String,
    pub payer_id: String,
    pub customer: Option<String>,
    pub item_id: String,
}

impl Billing {
    pub fn billing(&self) -> &BillingState {
        BillingState::of(&self.app.state).expect("billing is on")
    }

    pub fn now(&self) -> i64 {
        self.billing().clock.now_ms()
    }

    /// Moves the billing clock to `at`.
    pub fn set_clock(&self, at: i64) {
        self.billing().clock.set(at);
    }

    pub async fn run_job(&self) -> JobReport {
        jobs::run_once(&self.app.state)
            .await
            .expect("lifecycle run")
    }

    /// Runs `work` on billing's database.
    pub async fn db<T: Send + 'static>(
        &self,
        work: impl Fn(&mut DbConnection) -> QueryResult<T> + Send + Sync + 'static,
    ) -> T {
        self.app
            .state
            .db
            .for_module(Module::Billing)
            .run("test", move |conn| work(conn).map_err(ApiError::from))
            .await
            .expect("billing query")
    }

    pub async fn item(&self, id: &str) -> ItemRow {
        let id = id.to_owned();
        self.db(move |conn| store::item(conn, &id))
            .await
            .expect("the item")
    }

    /// The payer's current item.
    pub async fn current(&self, payer_id: &str) -> Option<ItemRow> {
        let id = payer_id.to_owned();
        self.db(move |conn| store::current_item(conn, &id)).await
    }

    /// The event types recorded for `object_id`, oldest first.
    pub async fn events(&self, object_id: &str) -> Vec<String> {
        let id = object_id.to_owned();
        self.db(move |conn| events::of_object(conn, &id))
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// Replaces the subscriber's card, at Stripe and here, with one that
    /// needs 3-D Secure: what the trial's end meets when the bank asks
    /// for the payer.
    pub async fn card_needs_3ds(&self, s: &Subscriber) {
        let customer = s.customer.clone().expect("a Stripe customer");
        let card = localstripe().create_card(THREE_DS_CARD);
        let gateway = self.billing().gateway.as_ref().unwrap();
        gateway
            .attach_payment_method(&card, &customer)
            .await
            .unwrap();
        let payer_id = s.payer_id.clone();
        self.db(move |conn| {
            use steward::modules::billing::schema::billing_payment_methods as cards;
            diesel::update(cards::table.filter(cards::payer_id.eq(&payer_id)))
                .set(cards::gateway_external_id.eq(&card))
                .execute(conn)
        })
        .await;
    }

    /// The payload of the last `event_type` event of `object_id`.
    pub async fn event(&self, object_id: &str, event_type: &str) -> Value {
        let id = object_id.to_owned();
        let event = self
            .db(move |conn| events::of_object(conn, &id))
            .await
            .into_iter()
            .rev()
            .find(|e| e.event_type == event_type)
            .unwrap_or_else(|| panic!("no {event_type} for {object_id}"));
        serde_json::from_str(&event.payload).expect("a JSON payload")
    }

    /// A user who signed in on the web, saved `card` (if any) through a
    /// SetupIntent as a browser does, and confirmed a checkout of `plan`
    /// on the Frontend API: a trial of `pro`, or a paid month of `max`.
    pub async fn subscriber(&self, email: &str, plan: &str, card: Option<&str>) -> Subscriber {
        let user_id = crate::common::user(&self.app, email).await;
        let mut web = FapiClient::web(&self.app);
        let session = web.sign_in(email, PASSWORD).await;
        let mut form: Vec<(&str, String)> = Vec::new();
        if let Some(number) = card {
            let saved = save_card(&mut web, &session, ME, number).await;
            form.push((
                "payment_method_id",
                saved["id"].as_str().unwrap().to_owned(),
            ));
        }
        let (_, plan) = self.app.get(&format!("/v1/billing/plans/{plan}")).await;
        let plan_id = plan["id"].as_str().expect("the plan").to_owned();
        let (status, checkout) = call(
            &mut web,
            Method::POST,
            &format!("{ME}/checkouts"),
            &session,
            &[("plan_id", &plan_id), ("plan_period", "month")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{checkout}");
        let id = checkout["response"]["id"].as_str().unwrap().to_owned();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, confirmed) = call(
            &mut web,
            Method::PATCH,
            &format!("{ME}/checkouts/{id}/confirm"),
            &session,
            &form,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{confirmed}");
        let item = &confirmed["response"]["subscription_item"];
        assert_eq!(item["status"], "active", "{confirmed}");
        let user = PayerRef::User(UserId::from(user_id.clone()));
        let payer = self
            .db(move |conn| payers::find(conn, &user))
            .await
            .expect("the payer");
        Subscriber {
            user_id,
            email: email.to_owned(),
            payer_id: payer.id,
            customer: payer.gateway_customer_id,
            item_id: item["id"].as_str().unwrap().to_owned(),
        }
    }
}

/// The `pla` claim of a fresh token for a new web session of `email`, once
/// it equals `wanted` (the push may land a moment after the change).
pub async fn wait_for_plan_claim(app: &TestApp, email: &str, wanted: &str) {
    let mut web = FapiClient::web(app);
    let session = web.sign_in(email, PASSWORD).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, token) = web.token(&session).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        let claims = crate::common::jwt_claims(token["jwt"].as_str().unwrap());
        if claims["pla"] == wanted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pla never became {wanted}: {claims}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The customer's PaymentIntents at localstripe.
pub fn intents(customer: &str) -> Vec<Value> {
    let (_, intents) = localstripe().get("/v1/payment_intents?limit=10000");
    intents["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["customer"] == customer)
        .cloned()
        .collect()
}

/// The customer's successful charges at localstripe.
pub fn paid_charges(customer: &str) -> usize {
    let (_, charges) = localstripe().get(&format!("/v1/charges?customer={customer}&limit=10000"));
    charges["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "succeeded")
        .count()
}
