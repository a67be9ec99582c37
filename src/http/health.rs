//! Liveness, readiness and metrics, served on both listeners.

use actix_web::{web, HttpResponse};
use futures_util::future::join_all;
use serde_json::json;

use crate::state::AppState;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: every database this process writes to answers (`ready`),
/// or the primary is down but a replica answers, so sessions are still
/// served (`degraded`, also 200). The read failover breaker is reported.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let timeout = state.settings.database.connect_timeout;
    let checks = state.db.all_pools().map(|pool| async move {
        let outcome = match tokio::time::timeout(timeout, pool.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        };
        (pool.label(), pool.backend(), outcome)
    });
    let results = join_all(checks).await;
    let writable_ok = results
        .iter()
        .all(|(label, _, outcome)| outcome.is_ok() || *label == "replica");
    let replica_ok = results
        .iter()
        .any(|(label, _, outcome)| outcome.is_ok() && *label == "replica");
    // With the primary down but a replica up, sessions are still served.
    let degraded = !writable_ok && replica_ok;
    let ready = writable_ok || degraded;
    let databases: Vec<_> = results
        .into_iter()
        .map(|(label, backend, outcome)| match outcome {
            Ok(()) => json!({ "name": label, "backend": backend, "status": "ok" }),
            Err(error) => {
                json!({ "name": label, "backend": backend, "status": "unavailable", "error": error })
            }
        })
        .collect();
    let status = match (writable_ok, degraded) {
        (true, _) => "ready",
        (false, true) => "degraded",
        (false, false) => "unavailable",
    };
    let mut body = json!({
        "status": status,
        "role": state.settings.role,
        "databases": databases,
    });
    if state.db.has_replicas() {
        body["read_failover"] = json!({ "breaker": state.db.breaker_state().name() });
    }
    // Session writes waiting for their database (see `[spool]`).
    let writes = state.session_writes.clone();
    if let Ok(Ok(depth)) = tokio::task::spawn_blocking(move || writes.spool_depth()).await {
        body["spool"] = json!({ "depth": depth });
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("retry-after", "1"))
            .json(body)
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::render_metrics())
}
