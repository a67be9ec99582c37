//! The payment gateway: the few Stripe calls billing makes, with Steward's
//! own types on both sides so that nothing above this file names an
//! `async-stripe` type.
//!
//! Billing keeps plans, subscriptions, trials and statements itself; Stripe
//! holds the cards and moves the money. So this is all it needs: a Stripe
//! customer per payer, a SetupIntent whose client secret the browser
//! confirms with Stripe.js (the card never reaches Steward), the customer's
//! card PaymentMethods, and off-session PaymentIntents to charge one, each
//! with the caller's idempotency key so a retried charge never charges
//! twice. Webhooks are verified in [`webhook`].
//!
//! Errors are mapped here, once: a charge's answer becomes a
//! [`ChargeOutcome`] the billing job can act on (paid, needs the payer,
//! declined, try again later), everything else a [`GatewayError`]. Neither
//! carries the secret key nor a client secret; Stripe's own error text
//! (which can embed whole objects) is never formatted into them.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use ::stripe::{
    ApiErrors, ApiErrorsType, Client, ClientBuilder, RequestStrategy, StripeError, StripeRequest,
};
use secrecy::{ExposeSecret, SecretString};
use stripe_core::customer::{CreateCustomer, UpdateCustomer, UpdateCustomerInvoiceSettings};
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::setup_intent::{CreateSetupIntent, RetrieveSetupIntent};
use stripe_core::{
    PaymentIntent, PaymentIntentAllowedPaymentMethodTypes, PaymentIntentStatus,
    SetupIntentAllowedPaymentMethodTypes, SetupIntentStatus,
};
use stripe_payment::payment_method::{
    AttachPaymentMethod, DetachPaymentMethod, ListPaymentMethod, ListPaymentMethodType,
    RetrievePaymentMethod,
};
use stripe_payment::PaymentMethod;

mod types;
pub mod webhook;

pub use types::*;

pub use webhook::{WebhookError, WebhookEvent};

/// The metadata key on a Stripe customer that names its Steward payer (a
/// user or organization id): what links a customer seen in Stripe's
/// dashboard or in a webhook back to its payer.
pub const PAYER_METADATA_KEY: &str = "steward_payer_id";

/// A secret (the API key, the webhook signing secret): never printed.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself, for the one place that needs it (the API key for
    /// the client, the client secret for the browser).
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What the gateway is built from.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Stripe's secret key (`sk_live_…`, `sk_test_…`) or a restricted key.
    pub secret_key: Secret,
    /// Another API base than `https://api.stripe.com/`: a Stripe-compatible
    /// server such as localstripe in the tests.
    pub api_base: Option<String>,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Secret,
}

/// Stripe as billing uses it. Build one per process and share it: the
/// client keeps a connection pool.
pub struct PaymentGateway {
    client: Client,
    api_base: Option<String>,
    webhook_secret: Secret,
}

impl fmt::Debug for PaymentGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentGateway")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

fn card_of(method: PaymentMethod) -> Result<Card, GatewayError> {
    let card = method.card.ok_or_else(|| {
        GatewayError::Unreadable(format!("payment method {} is not a card", method.id))
    })?;
    Ok(Card {
        id: method.id.to_string(),
        customer: method.customer.map(|c| c.id().to_string()),
        brand: card.brand,
        last4: card.last4,
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        fingerprint: card.fingerprint,
    })
}

fn setup_status(status: SetupIntentStatus) -> SetupStatus {
    match status {
        SetupIntentStatus::Succeeded => SetupStatus::Succeeded,
        SetupIntentStatus::RequiresPaymentMethod => SetupStatus::RequiresPaymentMethod,
        SetupIntentStatus::RequiresConfirmation => SetupStatus::RequiresConfirmation,
        SetupIntentStatus::RequiresAction => SetupStatus::RequiresAction,
        SetupIntentStatus::Processing => SetupStatus::Processing,
        SetupIntentStatus::Canceled => SetupStatus::Canceled,
        other => SetupStatus::Other(other.as_str().to_owned()),
    }
}

/// A PaymentIntent's status after an off-session confirmation.
fn outcome_of(intent: &PaymentIntent) -> ChargeOutcome {
    let payment_intent = intent.id.to_string();
    match &intent.status {
        PaymentIntentStatus::Succeeded => ChargeOutcome::Succeeded { payment_intent },
        PaymentIntentStatus::RequiresAction => ChargeOutcome::RequiresAction { payment_intent },
        PaymentIntentStatus::Processing => ChargeOutcome::Processing { payment_intent },
        _ => {
            let error = intent.last_payment_error.as_deref();
            let (code, decline_code, message) = match error {
                Some(e) => {
                    let (code, decline, message) = api_error_parts(e);
                    (code, decline, Some(message))
                }
                None => (None, None, None),
            };
            ChargeOutcome::Declined {
                payment_intent: Some(payment_intent),
                code,
                decline_code,
                message,
            }
        }
    }
}

/// A failed charge request as an outcome, or as an error when it is
/// neither a decline nor transient.
fn charge_failure(error: StripeError) -> Result<ChargeOutcome, GatewayError> {
    match error {
        StripeError::Stripe(errors, status) => {
            let intent = errors.payment_intent.as_ref();
            let code = errors.code.as_ref().map(|c| c.as_str());
            // Off-session, a card that needs 3-D Secure fails with this
            // code and leaves the PaymentIntent in `requires_action`.
            if code == Some("authentication_required") {
                if let Some(intent) = intent {
                    return Ok(ChargeOutcome::RequiresAction {
                        payment_intent: intent.id.to_string(),
                    });
                }
            }
            if matches!(errors.type_, ApiErrorsType::CardError) || status == 402 {
                let (code, decline_code, message) = api_error_parts(&errors);
                return Ok(ChargeOutcome::Declined {
                    payment_intent: intent.map(|i| i.id.to_string()),
                    code,
                    decline_code,
                    message: Some(message),
                });
            }
            match GatewayError::from(StripeError::Stripe(errors, status)) {
                GatewayError::Unavailable(reason) => Ok(ChargeOutcome::Transient { reason }),
                other => Err(other),
            }
        }
        StripeError::ClientError(reason) => Ok(ChargeOutcome::Transient { reason }),
        StripeError::Timeout => Ok(ChargeOutcome::Transient {
            reason: "timeout".to_owned(),
        }),
        other => Err(other.into()),
    }
}

impl PaymentGateway {
    /// Builds the client; no request is made.
    pub fn new(config: &GatewayConfig) -> Result<Self, GatewayError> {
        let mut builder = ClientBuilder::new(config.secret_key.expose_secret());
        if let Some(base) = &config.api_base {
            // async-stripe joins paths onto the base: it needs the slash.
            let base = if base.ends_with('/') {
                base.clone()
            } else {
                format!("{base}/")
            };
            builder = builder.url(base);
        }
        let client = builder
            .build()
            .map_err(|e| GatewayError::Config(e.to_string()))?;
        Ok(Self {
            client,
            api_base: config.api_base.clone(),
            webhook_secret: config.webhook_secret.clone(),
        })
    }

    /// A Stripe customer for a payer (user or organization id), with the
    /// payer id in its metadata. Idempotent per payer for Stripe's 24
    /// hours, so a retried sign-up step does not leave a second customer.
    pub async fn create_customer(&self, payer_id: &str) -> Result<String, GatewayError> {
        let metadata = HashMap::from([(PAYER_METADATA_KEY.to_owned(), payer_id.to_owned())]);
        let customer = CreateCustomer::new()
            .metadata(metadata)
            .customize()
            .request_strategy(idempotent(&format!("steward-customer-{payer_id}"))?)
            .send(&self.client)
            .await?;
        Ok(customer.id.to_string())
    }

    /// Makes `payment_method` the card the customer is charged with by
    /// default (`invoice_settings.default_payment_method`).
    pub async fn set_default_payment_method(
        &self,
        customer: &str,
        payment_method: &str,
    ) -> Result<(), GatewayError> {
        let settings = UpdateCustomerInvoiceSettings {
            default_payment_method: Some(payment_method.to_owned()),
            ..Default::default()
        };
        UpdateCustomer::new(customer)
            .invoice_settings(settings)
            .send(&self.client)
            .await?;
        Ok(())
    }

    /// A SetupIntent to save a card for off-session charges.
    pub async fn create_setup_intent(
        &self,
        customer: &str,
    ) -> Result<SetupIntentCreated, GatewayError> {
        let intent = CreateSetupIntent::new()
            .customer(customer)
            .allowed_payment_method_types(vec![SetupIntentAllowedPaymentMethodTypes::Card])
            .usage(stripe_core::setup_intent::CreateSetupIntentUsage::OffSession)
            .send(&self.client)
            .await?;
        let client_secret = intent
            .client_secret
            .ok_or_else(|| GatewayError::Unreadable("setup intent without client secret".into()))?;
        Ok(SetupIntentCreated {
            id: intent.id.to_string(),
            client_secret: Secret::new(client_secret),
        })
    }

    pub async fn retrieve_setup_intent(&self, id: &str) -> Result<SetupIntentState, GatewayError> {
        let intent = RetrieveSetupIntent::new(id).send(&self.client).await?;
        Ok(SetupIntentState {
            id: intent.id.to_string(),
            status: setup_status(intent.status),
            customer: intent.customer.map(|c| c.id().to_string()),
            payment_method: intent.payment_method.map(|p| p.id().to_string()),
        })
    }

    /// Attaches a card to a customer; a declined card is
    /// [`GatewayError::CardDeclined`].
    pub async fn attach_payment_method(
        &self,
        payment_method: &str,
        customer: &str,
    ) -> Result<Card, GatewayError> {
        let method = AttachPaymentMethod::new(payment_method)
            .customer(customer)
            .send(&self.client)
            .await?;
        card_of(method)
    }

    pub async fn detach_payment_method(&self, payment_method: &str) -> Result<(), GatewayError> {
        DetachPaymentMethod::new(payment_method)
            .send(&self.client)
            .await?;
        Ok(())
    }

    pub async fn retrieve_payment_method(
        &self,
        payment_method: &str,
    ) -> Result<Card, GatewayError> {
        card_of(
            RetrievePaymentMethod::new(payment_method)
                .send(&self.client)
                .await?,
        )
    }

    /// The customer's cards, every page.
    pub async fn list_cards(&self, customer: &str) -> Result<Vec<Card>, GatewayError> {
        let mut cards = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut request = ListPaymentMethod::new()
                .customer(customer)
                .type_(ListPaymentMethodType::Card)
                .limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.clone());
            }
            let page = request.send(&self.client).await?;
            after = page.data.last().map(|m| m.id.to_string());
            for method in page.data {
                cards.push(card_of(method)?);
            }
            if !page.has_more || after.is_none() {
                return Ok(cards);
            }
        }
    }

    /// Charges a saved card off-session (the payer is not there): creates
    /// and confirms a PaymentIntent in one call under the caller's
    /// idempotency key. Declines and transient failures are outcomes, not
    /// errors: the billing job decides what each means for the
    /// subscription.
    pub async fn charge(&self, request: &ChargeRequest<'_>) -> Result<ChargeOutcome, GatewayError> {
        let currency = stripe_types::Currency::from_str(&request.currency.to_ascii_lowercase())
            .unwrap_or_else(|never| match never {});
        let result = CreatePaymentIntent::new(request.amount, currency)
            .customer(request.customer)
            .payment_method(request.payment_method)
            // Cards only: with Stripe's automatic payment methods instead,
            // a confirmation would need a return_url for redirects.
            .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card])
            .confirm(true)
            .off_session(CreatePaymentIntentOffSession::Bool(true))
            .metadata(request.metadata.clone())
            .customize()
            .request_strategy(idempotent(request.idempotency_key)?)
            .send(&self.client)
            .await;
        match result {
            Ok(intent) => Ok(outcome_of(&intent)),
            Err(error) => charge_failure(error),
        }
    }

    /// Checks a webhook delivery's `Stripe-Signature` against the signing
    /// secret and `now` (Unix seconds), and reads the event's identity.
    pub fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: &str,
        now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        webhook::verify(
            payload,
            signature_header,
            self.webhook_secret.expose_secret().as_bytes(),
            now,
            webhook::DEFAULT_TOLERANCE_SECS,
        )
    }
}

fn idempotent(key: &str) -> Result<RequestStrategy, GatewayError> {
    let key = ::stripe::IdempotencyKey::new(key)
        .map_err(|e| GatewayError::Config(format!("idempotency key: {e}")))?;
    Ok(RequestStrategy::Idempotent(key))
}
