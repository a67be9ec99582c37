//! Per-request trace ids and HTTP metrics.
//!
//! Every request gets a random trace id. It names the request's tracing span,
//! is returned in the `Clerk-Trace-Id` header, and appears as
//! `clerk_trace_id` in error bodies, so an operator can find a client's
//! failing request in the logs. The id lives in a task-local for the
//! duration of the request, which is where error bodies are rendered.
//!
//! Metric labels come from closed sets: the method from the methods HTTP
//! defines (anyone can send `M00001ZZ`), the route from the patterns
//! registered at start-up, else `other`. A label value made from the
//! request would add a time series per value, kept until the process ends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use tracing::Instrument;

use super::error;

tokio::task_local! {
    static TRACE_ID: String;
}

const REQUEST_DURATION: &str = "steward_http_request_duration_seconds";

/// A hot route's request-duration histogram, by listener, route, method and
/// status.
type HotKey = (&'static str, &'static str, &'static str, u16);

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

/// The longest path a log line carries: every request is logged, and a
/// path may be 64 KiB long.
const LOGGED_PATH_BYTES: usize = 256;

/// `path`, cut to [`LOGGED_PATH_BYTES`]. `get` cannot split a character:
/// off a character boundary the path is logged whole.
fn logged_path(path: &str) -> &str {
    path.get(..LOGGED_PATH_BYTES).unwrap_or(path)
}

/// The method's metric label: one of the methods HTTP defines, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware: assigns the trace id, opens the request span, records
/// `steward_http_request_duration_seconds` by listener, route, method and
/// status, and gives error responses that something other than Steward's
/// handlers wrote (CORS refusals, actix's own) a Clerk-style body.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trace_id = new_trace_id();
    let listener = req
        .app_data::<web::Data<Listener>>()
        .map_or("unknown", |l| l.0);
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        listener,
        method = %req.method(),
        path = logged_path(req.path()),
    );
    let started = Instant::now();
    let response = TRACE_ID
        .scope(trace_id.clone(), next.call(req).instrument(span.clone()))
        .await?;
    let elapsed = started.elapsed();
    let mut response = with_clerk_body(response, &trace_id);
    let status = response.status().as_u16();
    let hot = hot_route(response.request().path());
    let route = match hot {
        Some(route) => std::borrow::Cow::Borrowed(route),
        None => std::borrow::Cow::Owned(
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "other".to_owned()),
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
        None => request_histogram(listener, method, route.into_owned(), status).record(seconds),
    }
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(TRACE_HEADER), value);
    }
    Ok(response)
}

/// An error response as it is when a handler wrote it (Clerk's JSON), else
/// with a Clerk-style body for its status (see
/// [`error::for_foreign_response`]). A success passes untouched.
fn with_clerk_body<B>(
    response: ServiceResponse<B>,
    trace_id: &str,
) -> ServiceResponse<EitherBody<B>> {
    let needs_body = response.status().as_u16() >= 400
        && response
            .headers()
            .get(CONTENT_TYPE)
            .is_none_or(|value| value != "application/json");
    if !needs_body {
        return response.map_into_left_body();
    }
    let error = error::for_foreign_response(response.status(), response.response().error());
    let status = error.status_code();
    let body = TRACE_ID
        .sync_scope(trace_id.to_owned(), || error.body())
        .to_string();
    response.map_body(|head, _| {
        head.status = status;
        head.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        EitherBody::right(BoxBody::new(body))
    })
}

fn request_histogram(
    listener: &'static str,
    method: &'static str,
    route: String,
    status: u16,
) -> metrics::Histogram {
    metrics::histogram!(
        REQUEST_DURATION,
        "listener" => listener,
        "method" => method,
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
    use super::{hot_route, logged_path, method_label, LOGGED_PATH_BYTES};
    use actix_web::http::Method;

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

    #[test]
    fn labels_and_logged_paths_are_bounded() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let invented = Method::from_bytes(b"M00001ZZ").unwrap();
        assert_eq!(method_label(&invented), "other");
        let long = format!("/{}", "a".repeat(70_000));
        assert_eq!(logged_path(&long).len(), LOGGED_PATH_BYTES);
        assert_eq!(logged_path("/v1/client"), "/v1/client");
    }
}
