//! Logging (tracing) and metrics (Prometheus) set-up.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Latency buckets in seconds, from 50 µs (a cached query) to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// Database query buckets, fine below a millisecond: a primary-key read on a
/// local database takes tens of microseconds, and P50/P95/P99 read from the
/// buckets are only as precise as the buckets around them.
const QUERY_BUCKETS: &[f64] = &[
    0.00001, 0.00002, 0.00003, 0.00004, 0.00005, 0.000064, 0.00008, 0.000096, 0.000128, 0.00016,
    0.0002, 0.00025, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5,
    1.0, 5.0,
];

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global tracing subscriber. Later calls (tests that start
/// several apps in one process) keep the first subscriber.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _already_set = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(RefusedRequests)
            .try_init(),
        LogFormat::Text => builder.finish().with(RefusedRequests).try_init(),
    };
}

/// Where actix's HTTP/1 dispatcher logs a connection's end.
const DISPATCHER_TARGET: &str = "actix_http::h1::dispatcher";
/// How it begins the line for a request its parser refused (a URI over
/// 64 KiB, a head over 128 KiB, a bad `Content-Length`).
const PARSE_ERROR: &str = "stream error: request parse error";

/// Drops the ERROR line actix logs for every request its parser refused:
/// that is the client's fault, answered with a 400 or 431 already, and
/// anyone could fill the log with it. It is counted instead, in
/// `steward_http_malformed_requests_total` (while error-level logging is
/// on, which is when actix reports it). Other dispatcher errors stay.
struct RefusedRequests;

impl<S: Subscriber> Layer<S> for RefusedRequests {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || metadata.target() != DISPATCHER_TARGET {
            return true;
        }
        let mut message = ParseErrorMessage(false);
        event.record(&mut message);
        if message.0 {
            metrics::counter!("steward_http_malformed_requests_total").increment(1);
        }
        !message.0
    }
}

/// Whether an event's message is a parse error's.
struct ParseErrorMessage(bool);

impl Visit for ParseErrorMessage {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}").starts_with(PARSE_ERROR);
        }
    }
}

/// Installs the global Prometheus recorder once per process.
pub fn init_metrics() {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("steward_db_query_duration_seconds".to_owned()),
                QUERY_BUCKETS,
            )
            .and_then(|builder| {
                builder
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            })
            .and_then(|builder| builder.install_recorder());
        match recorder {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed");
                None
            }
        }
    });
}

/// The current metrics in Prometheus text format.
pub fn render_metrics() -> String {
    PROMETHEUS
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}
