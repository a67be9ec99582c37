//! Unit tests of `http::error`: what is logged, and when.

use std::sync::{Arc, Mutex};

use actix_web::ResponseError;

use super::ApiError;
use crate::db::Transient;

/// Log lines written by the code run in [`captured`].
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a subscriber that captures every event; returns the
/// log lines.
fn captured(f: impl FnOnce()) -> Vec<String> {
    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = sink.0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_internal_cause_is_logged_once_when_answered_and_never_sent() {
    let inner = std::io::Error::other("disk on fire");
    let lines = captured(|| {
        let error = ApiError::internal(inner);
        let status = error.status_code();
        let body = error.body().to_string();
        assert_eq!(status.as_u16(), 500);
        assert!(!body.contains("disk on fire"), "{body}");
        let span = tracing::info_span!("request", trace_id = "trace4711");
        let _response = span.in_scope(|| error.error_response());
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("ERROR"), "{lines:?}");
    assert!(lines[0].contains("disk on fire"), "{lines:?}");
    // Written inside the request span, the line names the trace id.
    assert!(lines[0].contains("trace4711"), "{lines:?}");
}

#[test]
fn construction_logs_nothing_and_the_chain_is_kept() {
    #[derive(Debug, thiserror::Error)]
    #[error("query failed")]
    struct Outer(#[source] std::io::Error);
    let lines = captured(|| {
        let error = ApiError::internal(Outer(std::io::Error::other("socket closed")));
        assert!(error.to_string().contains("query failed: socket closed"));
    });
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn an_error_without_a_source_logs_nothing() {
    let lines = captured(|| {
        let _response = ApiError::not_found("session").error_response();
    });
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn only_unavailability_is_transient() {
    assert!(!ApiError::not_found("session").is_transient());
    assert!(ApiError::unavailable().is_transient());
}
