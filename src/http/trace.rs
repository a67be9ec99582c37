//! Per-request trace ids and HTTP metrics.
//!
//! Every request gets a random trace id. It names the request's tracing span,
//! is returned in the `Clerk-Trace-Id` header, and appears as
//! `clerk_trace_id` in error bodies, so an operator can find a client's
//! failing request in the logs. The id lives in a task-local for the
//! duration of the request, which is where error bodies are rendered.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

tokio::task_local! {
    static TRACE_ID: String;
}

const REQUEST_DURATION: &str = "steward_http_request_duration_seconds";

/// A hot route's request-duration histogram, by listener, route, method and
/// status.
type HotKey = (&'static str, &'static str, Method, u16);

thread_local! {
    /// The hot routes' histogram handles, per worker thread. Building a
    /// metrics key from four labels and finding it in the registry cost
    /// about 2.3k instructions per request (callgrind), as much as a tenth
    /// of a `/healthz`.
    static HOT_HISTOGRAMS: RefCell<HashMap<HotKey, metrics::Histogram>> =
        RefCell::new(HashMap::new());
}

/// Response header carrying the trace id (read by Clerk's Go SDK).
pub const TRACE_HEADER: &str = "clerk-trace-id";

/// Which listener a request arrived on, for metrics labels.
#[derive(Debug, Clone, Copy)]
pub struct Listener(pub &'static str);

/// The trace id of the request being served, if any.
pub fn current_trace_id() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

/// 128 random bits as 32 hex digits, formatted in one go: this runs on
/// every request, and a `format!` per byte cost more than the route.
fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Middleware: assigns the trace id, opens the request span, and records
/// `steward_http_request_duration_seconds` by listener, route and status.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trace_id = new_trace_id();
    let listener = req
        .app_data::<web::Data<Listener>>()
        .map_or("unknown", |l| l.0);
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        listener,
        method = %method,
        path = %req.path(),
    );
    let started = Instant::now();
    let mut response = TRACE_ID
        .scope(trace_id.clone(), next.call(req).instrument(span.clone()))
        .await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let hot = hot_route(response.request().path());
    let route = match hot {
        Some(route) => std::borrow::Cow::Borrowed(route),
        None => std::borrow::Cow::Owned(
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
    };
    span.in_scope(|| {
        tracing::info!(
            status,
            route = %route,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    let seconds = elapsed.as_secs_f64();
    match hot {
        Some(route) => HOT_HISTOGRAMS.with_borrow_mut(|histograms| {
            histograms
                .entry((listener, route, method, status))
                .or_insert_with_key(|(listener, route, method, status)| {
                    request_histogram(listener, method, route.to_string(), *status)
                })
                .record(seconds)
        }),
        None => request_histogram(listener, &method, route.into_owned(), status).record(seconds),
    }
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(TRACE_HEADER), value);
    }
    Ok(response)
}

fn request_histogram(
    listener: &'static str,
    method: &Method,
    route: String,
    status: u16,
) -> metrics::Histogram {
    metrics::histogram!(
        REQUEST_DURATION,
        "listener" => listener,
        "method" => method.to_string(),
        "route" => route,
        "status" => status.to_string(),
    )
}

/// The route label of the hottest paths, found without `match_pattern`,
/// which walks every registered route again (a regex per dynamic one) and
/// cost the token path about a tenth of its CPU time.
fn hot_route(path: &str) -> Option<&'static str> {
    if path == "/healthz" {
        return Some("/healthz");
    }
    let (id, rest) = path.strip_prefix("/v1/client/sessions/")?.split_once('/')?;
    (!id.is_empty() && rest == "tokens").then_some("/v1/client/sessions/{id}/tokens")
}

#[cfg(test)]
mod tests {
    use super::hot_route;

    #[test]
    fn only_the_exact_hot_shapes_skip_the_router() {
        assert_eq!(
            hot_route("/v1/client/sessions/sess_1/tokens"),
            Some("/v1/client/sessions/{id}/tokens")
        );
        assert_eq!(hot_route("/healthz"), Some("/healthz"));
        assert_eq!(hot_route("/v1/client/sessions/a/b/tokens"), None);
        assert_eq!(hot_route("/v1/client/sessions//tokens"), None);
        assert_eq!(hot_route("/v1/client/sessions/sess_1/touch"), None);
    }
}
