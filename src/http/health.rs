//! Liveness, readiness and metrics.
//!
//! The Backend API listener, which stays on a private network, serves all
//! three with their detail: `/readyz` names each database and the error it
//! gave, and `/metrics` shows the process's routes and workload. The
//! Frontend API listener faces the internet and load balancers, so it
//! serves only `/healthz` and a bare `/readyz`: a status and nothing an
//! outsider could learn the deployment from.

use actix_web::{web, HttpResponse, ResponseError};
use futures_util::future::join_all;
use serde_json::{json, Value};

use super::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Whether the databases answer, and each one's outcome.
struct Readiness {
    /// `ready`, `degraded` (only a replica answers: sessions are still
    /// served) or `unavailable`.
    status: &'static str,
    databases: Vec<Value>,
}

impl Readiness {
    fn serves(&self) -> bool {
        self.status != "unavailable"
    }
}

/// Pings, within `database.connect_timeout`, every database this process
/// uses: the primary, the replicas and the own databases of the modules
/// its role serves or calls (a module database it does not use is neither
/// connected nor reported). One that was down at start-up stays
/// unavailable until it has been reached and migrated in the background.
async fn check(state: &AppState) -> Readiness {
    let timeout = state.settings.database.connect_timeout;
    let checks = state.db.used_pools().map(|pool| async move {
        let outcome = match tokio::time::timeout(timeout, pool.ping()).await {
            Ok(Ok(())) if pool.is_waiting() => {
                Err("reachable; not yet connected and migrated".to_owned())
            }
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
    let status = match (writable_ok, replica_ok) {
        (true, _) => "ready",
        (false, true) => "degraded",
        (false, false) => "unavailable",
    };
    let databases = results
        .into_iter()
        .map(|(label, backend, outcome)| match outcome {
            Ok(()) => json!({ "name": label, "backend": backend, "status": "ok" }),
            Err(error) => {
                json!({ "name": label, "backend": backend, "status": "unavailable", "error": error })
            }
        })
        .collect();
    Readiness { status, databases }
}

/// Backend API `GET /readyz`: every database this process uses and writes
/// to answers (`ready`), or the primary is down but a replica answers, so
/// sessions are still served (`degraded`, also 200). The body names each
/// database, the read failover breaker and the outage spool's depth.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let readiness = check(&state).await;
    let mut body = json!({
        "status": readiness.status,
        "role": state.settings.role,
        "databases": readiness.databases,
    });
    if state.db.has_replicas() {
        body["read_failover"] = json!({ "breaker": state.db.breaker_state().name() });
    }
    // Session writes waiting for their database (see `[spool]`).
    let writes = state.session_writes.clone();
    if let Ok(Ok(depth)) = tokio::task::spawn_blocking(move || writes.spool_depth()).await {
        body["spool"] = json!({ "depth": depth });
    }
    if readiness.serves() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("retry-after", "1"))
            .json(body)
    }
}

/// Frontend API `GET /readyz`, for load balancers: 200 `{"status":"ready"}`
/// (or `degraded`) while this process can serve, else the Clerk-style 503
/// `service_unavailable` with `Retry-After` that SDKs already retry on.
/// No database names, no errors.
pub async fn readyz_bare(state: web::Data<AppState>) -> HttpResponse {
    let readiness = check(&state).await;
    if readiness.serves() {
        HttpResponse::Ok().json(json!({ "status": readiness.status }))
    } else {
        ApiError::unavailable().error_response()
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::render_metrics())
}
