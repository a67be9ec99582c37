//! `[modules.billing]`: the billing area's settings.

use serde::Deserialize;

/// The billing area's own keys of `[modules.billing]`. Its `Debug` hides
/// the secrets.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingSettings {
    /// Stripe's secret key (`sk_…`); empty: no card can be collected or
    /// charged, and checkouts that need a payment answer 422.
    pub stripe_secret_key: String,
    /// The publishable key handed to browsers (`pk_…`), for Stripe.js.
    pub stripe_publishable_key: String,
    /// Stripe's API base URL; only changed to test against a
    /// Stripe-compatible server.
    pub stripe_api_base: String,
    /// The signing secret (`whsec_…`) of the Stripe webhook endpoint.
    pub stripe_webhook_secret: String,
    /// Clerk's default: a card must be on file before a free trial starts,
    /// and it is charged when the trial ends. Off: trials start without a
    /// card, and nobody is charged automatically when one ends (the
    /// subscription falls back to the default plan unless a card was
    /// added meanwhile).
    pub free_trial_requires_payment_method: bool,
    /// Days before a trial ends when its notice is sent (at once for a
    /// shorter trial).
    pub trial_notice_days: i64,
    /// Failed charges of one period before the subscription goes back to
    /// the default plan.
    pub max_charge_attempts: i32,
    /// Hours between charge retries of a past-due item.
    pub charge_retry_hours: i64,
    /// Seconds between runs of the lifecycle job.
    pub job_interval_seconds: u64,
    /// The currency of plan fees (ISO 4217, upper case).
    pub currency: String,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            stripe_secret_key: String::new(),
            stripe_publishable_key: String::new(),
            stripe_api_base: String::new(),
            stripe_webhook_secret: String::new(),
            free_trial_requires_payment_method: true,
            trial_notice_days: 3,
            max_charge_attempts: 3,
            charge_retry_hours: 24,
            job_interval_seconds: 60,
            currency: "USD".to_owned(),
        }
    }
}

impl BillingSettings {
    /// Checks values a typo could make harmful.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=30).contains(&self.trial_notice_days) {
            return Err("[modules.billing] trial_notice_days must be 0–30".into());
        }
        if !(1..=10).contains(&self.max_charge_attempts) {
            return Err("[modules.billing] max_charge_attempts must be 1–10".into());
        }
        if !(1..=24 * 14).contains(&self.charge_retry_hours) {
            return Err("[modules.billing] charge_retry_hours must be 1–336".into());
        }
        if self.job_interval_seconds == 0 {
            return Err("[modules.billing] job_interval_seconds must be at least 1".into());
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("[modules.billing] currency must be an ISO 4217 code like USD".into());
        }
        Ok(())
    }
}

impl std::fmt::Debug for BillingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |secret: &str| if secret.is_empty() { "" } else { "***" };
        f.debug_struct("BillingSettings")
            .field("stripe_secret_key", &hidden(&self.stripe_secret_key))
            .field("stripe_publishable_key", &self.stripe_publishable_key)
            .field("stripe_api_base", &self.stripe_api_base)
            .field(
                "stripe_webhook_secret",
                &hidden(&self.stripe_webhook_secret),
            )
            .field(
                "free_trial_requires_payment_method",
                &self.free_trial_requires_payment_method,
            )
            .field("trial_notice_days", &self.trial_notice_days)
            .field("max_charge_attempts", &self.max_charge_attempts)
            .field("charge_retry_hours", &self.charge_retry_hours)
            .field("job_interval_seconds", &self.job_interval_seconds)
            .field("currency", &self.currency)
            .finish()
    }
}
