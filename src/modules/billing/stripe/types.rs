//! What the gateway speaks: Steward's own types for cards, intents and
//! charge outcomes, and the gateway's errors (with how async-stripe's
//! errors map onto them), so nothing above the gateway names an
//! async-stripe type.

use super::*;

/// A payer's card as Stripe describes it: what a payment-method list shows
/// and what a trial-abuse check can key on (`fingerprint` is the same for
/// the same card number in every customer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The PaymentMethod id (`pm_…`).
    pub id: String,
    /// The customer it is attached to, if any.
    pub customer: Option<String>,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub fingerprint: Option<String>,
}

/// A SetupIntent just created: its id for Steward, its client secret for
/// the browser (Stripe.js confirms it with the card details).
#[derive(Clone)]
pub struct SetupIntentCreated {
    pub id: String,
    pub client_secret: Secret,
}

impl fmt::Debug for SetupIntentCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupIntentCreated")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where a SetupIntent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupStatus {
    /// The card is saved: its PaymentMethod can be charged off-session.
    Succeeded,
    RequiresPaymentMethod,
    RequiresConfirmation,
    /// The bank wants the payer (3-D Secure) before the card is saved.
    RequiresAction,
    Processing,
    Canceled,
    /// A status this build does not know.
    Other(String),
}

/// A SetupIntent as retrieved.
#[derive(Debug, Clone)]
pub struct SetupIntentState {
    pub id: String,
    pub status: SetupStatus,
    pub customer: Option<String>,
    /// The PaymentMethod it saved (or is saving).
    pub payment_method: Option<String>,
}

/// One off-session charge.
#[derive(Debug, Clone)]
pub struct ChargeRequest<'a> {
    pub customer: &'a str,
    pub payment_method: &'a str,
    /// In the currency's smallest unit (cents).
    pub amount: i64,
    /// ISO code, lowercase (`usd`).
    pub currency: &'a str,
    /// Stripe's `Idempotency-Key`: the same key within 24 hours returns the
    /// first attempt's result instead of charging again. Billing derives it
    /// from (subscription item, period).
    pub idempotency_key: &'a str,
    /// Extra metadata on the PaymentIntent (the subscription item, the
    /// period), for reconciling webhooks.
    pub metadata: HashMap<String, String>,
}

/// What became of a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money moved.
    Succeeded { payment_intent: String },
    /// The bank wants the payer (3-D Secure): nobody is charged until they
    /// authenticate on-session.
    RequiresAction { payment_intent: String },
    /// Accepted but not settled yet (delayed methods); the webhook tells.
    Processing { payment_intent: String },
    /// The card was refused: retrying the same card soon will not help.
    Declined {
        /// The failed PaymentIntent, when Stripe returned it.
        payment_intent: Option<String>,
        /// Stripe's error code (`card_declined`, `expired_card`, …).
        code: Option<String>,
        /// The issuer's reason (`generic_decline`, `insufficient_funds`, …).
        decline_code: Option<String>,
        message: Option<String>,
    },
    /// Stripe could not be reached, was rate limiting, or failed itself:
    /// retry later with the same idempotency key.
    Transient { reason: String },
}

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid payment gateway configuration: {0}")]
    Config(String),
    /// Stripe refused the request (a missing object, a bad parameter, an
    /// invalid key): not worth retrying unchanged.
    #[error("stripe refused the request (HTTP {status}, {kind}, code {code:?}): {message}")]
    Refused {
        status: u16,
        kind: String,
        code: Option<String>,
        message: String,
    },
    /// A card was declined outside a charge (attaching it, saving it).
    #[error("the card was declined (code {code:?}, decline code {decline_code:?})")]
    CardDeclined {
        code: Option<String>,
        decline_code: Option<String>,
    },
    /// The same idempotency key was used with other parameters: a bug in
    /// the caller's key derivation.
    #[error("idempotency key reused with different parameters")]
    IdempotencyMismatch,
    /// Network failure, timeout, rate limit or a Stripe server error: the
    /// call may be retried.
    #[error("stripe is unavailable: {0}")]
    Unavailable(String),
    /// Stripe answered with something this client could not read.
    #[error("unreadable answer from stripe: {0}")]
    Unreadable(String),
}

impl GatewayError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, GatewayError::Unavailable(_))
    }
}

/// Statuses Stripe documents as worth a retry.
pub(super) fn transient_status(status: u16) -> bool {
    matches!(status, 409 | 429 | 500..=599)
}

/// The safe parts of a Stripe API error.
pub(super) fn api_error_parts(errors: &ApiErrors) -> (Option<String>, Option<String>, String) {
    (
        errors.code.as_ref().map(|c| c.as_str().to_owned()),
        errors.decline_code.clone(),
        errors.message.clone().unwrap_or_default(),
    )
}

impl From<StripeError> for GatewayError {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(errors, status) => {
                let (code, decline_code, message) = api_error_parts(&errors);
                match errors.type_ {
                    ApiErrorsType::IdempotencyError => GatewayError::IdempotencyMismatch,
                    // 402 is how Stripe answers a refused card.
                    ApiErrorsType::CardError => GatewayError::CardDeclined { code, decline_code },
                    _ if status == 402 => GatewayError::CardDeclined { code, decline_code },
                    _ if transient_status(status) => {
                        GatewayError::Unavailable(format!("HTTP {status}: {message}"))
                    }
                    ref kind => GatewayError::Refused {
                        status,
                        kind: kind.as_str().to_owned(),
                        code,
                        message,
                    },
                }
            }
            StripeError::JSONDeserialize(e) => GatewayError::Unreadable(e),
            StripeError::ClientError(e) => GatewayError::Unavailable(e),
            StripeError::Timeout => GatewayError::Unavailable("timeout".to_owned()),
            StripeError::ConfigError(e) => GatewayError::Config(e),
        }
    }
}
