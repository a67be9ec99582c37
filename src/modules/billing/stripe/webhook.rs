//! Stripe webhook signatures, checked as Stripe's own libraries do.
//!
//! A delivery carries `Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX…]`:
//! each `v1` is HMAC-SHA256 over `TIMESTAMP.PAYLOAD` keyed with the
//! endpoint's signing secret (several during a secret roll). The payload is
//! authentic when one `v1` matches (compared in constant time by `hmac`),
//! and fresh when its timestamp is within the tolerance of now: an old
//! delivery captured and sent again is refused. A replay inside the
//! tolerance is the event-id check's job (billing records the ids it has
//! handled), not the signature's.
//!
//! async-stripe's own verifier is not used: it parses the whole event into
//! its typed objects (so it refuses events whose objects it cannot read,
//! as localstripe's are), it needs the heavy `async-stripe-webhook` crate,
//! and it reads the clock itself where tests need to pass `now`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance between the signed timestamp and now.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// A verified event: what billing needs to route it and to make handling
/// it idempotent. The payload itself is kept for the handler to read the
/// fields its event type has.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// `evt_…`: the key for "handled once".
    pub id: String,
    /// `payment_intent.succeeded`, `setup_intent.succeeded`, …
    pub event_type: String,
    /// `data.object.id`: the PaymentIntent, SetupIntent, … it is about.
    pub object_id: Option<String>,
    /// When Stripe created the event (Unix seconds).
    pub created: Option<i64>,
    pub livemode: bool,
    /// The whole event.
    pub payload: serde_json::Value,
}

/// Why a delivery was refused. Each is a 400 to Stripe and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no usable Stripe-Signature header (need t= and v1=)")]
    MalformedHeader,
    #[error("no v1 signature matches the payload")]
    SignatureMismatch,
    #[error("signed {age} s from now, outside the {tolerance} s tolerance")]
    OutsideTolerance { age: i64, tolerance: i64 },
    #[error("the signed payload is not a Stripe event: {0}")]
    MalformedEvent(String),
}

/// The timestamp and the `v1` signatures of a `Stripe-Signature` header.
fn parse_header(header: &str) -> Result<(i64, Vec<Vec<u8>>), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            // A v1 that is not hex cannot match; skip it like Stripe does.
            "v1" => signatures.extend(decode_hex(value)),
            _ => {}
        }
    }
    match timestamp {
        Some(t) if !signatures.is_empty() => Ok((t, signatures)),
        _ => Err(WebhookError::MalformedHeader),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Verifies `payload` against `header` with `secret` at `now` (Unix
/// seconds), then reads the event's identity.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<WebhookEvent, WebhookError> {
    let (timestamp, signatures) = parse_header(header)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::SignatureMismatch)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let authentic = signatures
        .iter()
        .any(|signature| mac.clone().verify_slice(signature).is_ok());
    if !authentic {
        return Err(WebhookError::SignatureMismatch);
    }
    let age = now.saturating_sub(timestamp);
    if age.abs() > tolerance {
        return Err(WebhookError::OutsideTolerance { age, tolerance });
    }
    parse_event(payload)
}

fn parse_event(payload: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let malformed = |what: &str| WebhookError::MalformedEvent(what.to_owned());
    let event: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| WebhookError::MalformedEvent(e.to_string()))?;
    let text = |key: &str| event.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let id = text("id").ok_or_else(|| malformed("no id"))?;
    if event.get("object").and_then(|v| v.as_str()) != Some("event") {
        return Err(malformed("not an event object"));
    }
    let event_type = text("type").ok_or_else(|| malformed("no type"))?;
    let object_id = event
        .pointer("/data/object/id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(WebhookEvent {
        id,
        event_type,
        object_id,
        created: event.get("created").and_then(|v| v.as_i64()),
        livemode: event
            .get("livemode")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        payload: event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const EVENT: &[u8] =
        br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1000,"livemode":false,"data":{"object":{"id":"pi_1","object":"payment_intent"}}}"#;

    fn sign(payload: &[u8], timestamp: i64, secret: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        let bytes = mac.finalize().into_bytes();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_signed_fresh_event_verifies() {
        let header = format!("t=1000,v1={}", sign(EVENT, 1000, SECRET));
        let event = verify(EVENT, &header, SECRET, 1010, 300).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.event_type, "payment_intent.succeeded");
        assert_eq!(event.object_id.as_deref(), Some("pi_1"));
    }

    #[test]
    fn any_v1_may_match_during_a_secret_roll() {
        let header = format!(
            "t=1000,v1={},v0=zz,v1={}",
            sign(EVENT, 1000, b"whsec_old"),
            sign(EVENT, 1000, SECRET)
        );
        assert!(verify(EVENT, &header, SECRET, 1000, 300).is_ok());
    }

    #[test]
    fn another_secret_or_payload_is_refused() {
        let header = format!("t=1000,v1={}", sign(EVENT, 1000, b"whsec_other"));
        assert_eq!(
            verify(EVENT, &header, SECRET, 1000, 300),
            Err(WebhookError::SignatureMismatch)
        );
        let header = format!("t=1000,v1={}", sign(EVENT, 1000, SECRET));
        let forged = String::from_utf8_lossy(EVENT).replace("pi_1", "pi_2");
        assert_eq!(
            verify(forged.as_bytes(), &header, SECRET, 1000, 300),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_moved_timestamp_breaks_the_signature() {
        let header = format!("t=2000,v1={}", sign(EVENT, 1000, SECRET));
        assert_eq!(
            verify(EVENT, &header, SECRET, 2000, 300),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn old_and_future_deliveries_are_refused() {
        let header = format!("t=1000,v1={}", sign(EVENT, 1000, SECRET));
        assert!(verify(EVENT, &header, SECRET, 1300, 300).is_ok());
        assert_eq!(
            verify(EVENT, &header, SECRET, 1301, 300),
            Err(WebhookError::OutsideTolerance {
                age: 301,
                tolerance: 300
            })
        );
        assert!(matches!(
            verify(EVENT, &header, SECRET, 600, 300),
            Err(WebhookError::OutsideTolerance { .. })
        ));
    }

    #[test]
    fn headers_without_t_or_v1_are_malformed() {
        for header in ["", "t=1000", "v1=abcd", "t=x,v1=abcd", "t=1000,v1=xyz"] {
            assert_eq!(
                verify(EVENT, header, SECRET, 1000, 300),
                Err(WebhookError::MalformedHeader),
                "{header}"
            );
        }
    }

    #[test]
    fn a_signed_non_event_is_malformed() {
        let payload = br#"{"id":"pi_1","object":"payment_intent"}"#;
        let header = format!("t=1000,v1={}", sign(payload, 1000, SECRET));
        assert!(matches!(
            verify(payload, &header, SECRET, 1000, 300),
            Err(WebhookError::MalformedEvent(_))
        ));
    }
}
