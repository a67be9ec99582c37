//! How a payment gateway failure reads to an API caller.

use super::stripe::GatewayError;
use crate::http::{ApiError, ErrorCode};

/// A gateway failure during a request: declines and refusals are the
/// caller's to fix (422), an unreachable Stripe is worth a retry (503),
/// anything else is ours (500, logged with its cause).
pub fn api_error(error: GatewayError, param: &str) -> ApiError {
    match error {
        GatewayError::CardDeclined {
            ref decline_code, ..
        } => {
            let detail = decline_code
                .clone()
                .unwrap_or_else(|| "card_declined".to_owned());
            ApiError::new(
                ErrorCode::CardDeclined,
                "card declined",
                format!("The card was declined ({detail})."),
            )
            .with_param(param)
            .with_meta("decline_code", serde_json::json!(decline_code))
        }
        GatewayError::Refused { .. } => {
            ApiError::param_value(param, "The payment provider refused this payment method.")
                .with_source(error)
        }
        GatewayError::Unavailable(_) => ApiError::unavailable().with_source(error),
        GatewayError::Config(_)
        | GatewayError::IdempotencyMismatch
        | GatewayError::Unreadable(_) => ApiError::internal(error),
    }
}

/// The error for a request that needs Stripe on an instance without it.
pub fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::PaymentMethodRequired,
        "payments are not configured",
        "This instance has no payment provider configured, so no card can be saved or charged.",
    )
}
