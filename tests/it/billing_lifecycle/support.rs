//! Set-up for the lifecycle tests: Steward with billing on the run's
//! localstripe and an SMTP capture server, subscribers put on a trial or a
//! paid period through the billing library (the Frontend API's checkout
//! makes the same rows), and readers of what changed.

use diesel::prelude::*;
use serde_json::Value;
use steward::db::DbConnection;
use steward::http::ApiError;
use steward::ids::UserId;
use steward::modules::billing::jobs::{self, JobReport};
use steward::modules::billing::payers::{self, PayerRef};
use steward::modules::billing::payment_methods::PaymentMethodRow;
use steward::modules::billing::plans::store as plans;
use steward::modules::billing::schema::{billing_payers, billing_payment_methods};
use steward::modules::billing::subscriptions::model::ItemRow;
use steward::modules::billing::subscriptions::store::{self, NewItem};
use steward::modules::billing::{events, lifecycle, BillingState};
use steward::modules::Module;

use crate::common::smtp::SmtpCapture;
use crate::common::stripe::{localstripe, SECRET_KEY};
use crate::common::{Backend, TestApp};

pub const WEBHOOK_SECRET: &str = "whsec_steward_lifecycle_tests";
pub const DAY: i64 = 86_400_000;
/// Attaches, then every charge is declined.
pub const DYING_CARD: &str = "4000000000000341";
pub const GOOD_CARD: &str = "4242424242424242";
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
    let config = format!(
        "[email]\nsmtp_url = \"{}\"\n[modules.billing]\nstripe_secret_key = \"{SECRET_KEY}\"\n\
         stripe_api_base = \"{}\"\nstripe_webhook_secret = \"{WEBHOOK_SECRET}\"\n\
         job_interval_seconds = 86400\n{extra_billing_toml}",
        smtp.url,
        localstripe().url
    );
    let app = TestApp::spawn_with(backend, &config).await;
    crate::billing_plans::catalogue(&app).await;
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
        jobs::run_once(&self.app.state).await.expect("lifecycle run")
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

    /// A user with a card saved through a SetupIntent (as a browser
    /// confirms it), subscribed to `plan` for a trial of `trial_days`
    /// (`None`: a paid month that started now).
    pub async fn subscriber(
        &self,
        email: &str,
        plan: &str,
        trial_days: Option<i32>,
        card: Option<&str>,
    ) -> Subscriber {
        let user_id = crate::common::user(&self.app, email).await;
        let now = self.now();
        let payer = {
            let user = PayerRef::User(UserId::from(user_id.clone()));
            let email = email.to_owned();
            self.db(move |conn| {
                let row = payers::find_or_create(conn, &user, now)?;
                diesel::update(billing_payers::table.find(&row.id))
                    .set(billing_payers::email.eq(&email))
                    .execute(conn)?;
                payers::get(conn, &row.id)
            })
            .await
        };
        let mut customer = None;
        let mut card_id = None;
        if let Some(number) = card {
            let gateway = self.billing().gateway.as_ref().expect("a gateway");
            let cus = gateway.create_customer(&payer.id).await.unwrap();
            let intent = gateway.create_setup_intent(&cus).await.unwrap();
            let (status, body) = localstripe().confirm_setup_intent_as_browser(
                &intent.id,
                intent.client_secret.expose_secret(),
                number,
            );
            assert_eq!(status, 200, "{body}");
            let pm = gateway
                .retrieve_setup_intent(&intent.id)
                .await
                .unwrap()
                .payment_method
                .expect("the saved card");
            let saved = gateway.attach_payment_method(&pm, &cus).await.unwrap();
            let row = PaymentMethodRow {
                id: steward::crypto::ids::new_id("cps"),
                payer_id: payer.id.clone(),
                gateway: "stripe".into(),
                gateway_external_id: saved.id.clone(),
                card_type: Some(saved.brand.clone()),
                last4: Some(saved.last4.clone()),
                expiry_month: Some(saved.exp_month as i32),
                expiry_year: Some(saved.exp_year as i32),
                fingerprint: saved.fingerprint.clone(),
                status: "active".into(),
                created_at: now,
                updated_at: now,
            };
            let row_id = row.id.clone();
            let (payer_id, cus2, card_row_id) = (payer.id.clone(), cus.clone(), row.id.clone());
            self.db(move |conn| {
                diesel::insert_into(billing_payment_methods::table)
                    .values(&row)
                    .execute(conn)?;
                diesel::update(billing_payers::table.find(&payer_id))
                    .set((
                        billing_payers::gateway_customer_id.eq(&cus2),
                        billing_payers::default_payment_method_id.eq(&card_row_id),
                    ))
                    .execute(conn)
            })
            .await;
            customer = Some(cus);
            card_id = Some(row_id);
        }
        let (payer_id, plan) = (payer.id.clone(), plan.to_owned());
        let item = self
            .db(move |conn| {
                let payer = payers::get(conn, &payer_id)?;
                let plan = plans::find(conn, &plan)?.expect("the plan");
                let subscription = store::ensure_subscription(conn, &payer, now)?;
                if let Some(mut current) = store::current_item(conn, &payer.id)? {
                    store::end_item(conn, &mut current, now)?;
                }
                let period_end = match trial_days {
                    Some(days) => now + i64::from(days) * DAY,
                    None => lifecycle::period_end(now, "month"),
                };
                let item = store::insert_item(
                    conn,
                    &subscription,
                    NewItem {
                        plan: &plan,
                        plan_period: "month",
                        amount: plan.row.fee_amount,
                        trial_days,
                        period_start: now,
                        period_end: Some(period_end),
                        payment_method_id: card_id.clone(),
                    },
                    now,
                )?;
                let marked = diesel::update(billing_payers::table.find(&payer.id));
                if trial_days.is_some() {
                    marked
                        .set(billing_payers::first_trial_at.eq(Some(now)))
                        .execute(conn)?;
                } else {
                    marked
                        .set(billing_payers::first_paid_at.eq(Some(now)))
                        .execute(conn)?;
                }
                Ok(item)
            })
            .await;
        Subscriber {
            user_id,
            email: email.to_owned(),
            payer_id: payer.id,
            customer,
            item_id: item.id,
        }
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
