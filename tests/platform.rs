//! Process-level behaviour: health, readiness, metrics, trace ids, JWKS,
//! roles, body limits, and the instance surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(
    health_readiness_and_metrics,
    trace_ids_and_exact_content_type,
    jwks_on_both_listeners,
    roles_mount_only_their_modules,
    oversized_bodies_are_refused,
    restart_reuses_the_instance,
    a_module_can_have_its_own_database,
);

async fn health_readiness_and_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for base in [&app.frontend_url, &app.backend_url] {
        let (status, body) = app.send(app.http.get(format!("{base}/healthz"))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
        let (status, body) = app.send(app.http.get(format!("{base}/readyz"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["databases"][0]["name"], "primary");
        assert_eq!(
            body["databases"][0]["backend"],
            if backend == Backend::Sqlite {
                "sqlite"
            } else {
                "postgres"
            }
        );
    }
    app.get("/v1/users").await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.frontend_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("steward_http_request_duration_seconds_bucket{listener=\"backend\",method=\"GET\",route=\"/v1/users\",status=\"200\""),
        "HTTP latency per route"
    );
    assert!(
        metrics.contains(
            "steward_db_query_duration_seconds_bucket{pool=\"primary\",query=\"users.list\""
        ),
        "DB latency per query"
    );
}

async fn trace_ids_and_exact_content_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .bapi(Method::GET, "/v1/users/user_missing")
        .send()
        .await
        .unwrap();
    let header = response.headers()["clerk-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["clerk_trace_id"],
        header.as_str(),
        "body and header carry the same id"
    );
    assert_eq!(header.len(), 32);
    // Every response gets one, successful or not, and each is different.
    let ok = app.bapi(Method::GET, "/v1/users").send().await.unwrap();
    assert_ne!(ok.headers()["clerk-trace-id"].to_str().unwrap(), header);
    // Unknown paths outside /v1 get a Clerk-style 404 on both listeners.
    for base in [&app.frontend_url, &app.backend_url] {
        let response = app.send(app.http.get(format!("{base}/nope"))).await;
        assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
    }
}

async fn jwks_on_both_listeners(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, public) = app
        .send(
            app.http
                .get(format!("{}/.well-known/jwks.json", app.frontend_url)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, private) = app.get("/v1/jwks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public, private);
    let key = &public["keys"][0];
    assert_eq!(
        key["kid"],
        app.state.instance.id.as_str(),
        "first key's kid is the instance id"
    );
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(
        key["n"].as_str().unwrap().len(),
        342,
        "2048-bit modulus, base64url"
    );
    let unauthenticated = app
        .send(app.http.get(format!("{}/v1/jwks", app.backend_url)))
        .await;
    assert_error(
        &unauthenticated,
        StatusCode::UNAUTHORIZED,
        "authorization_header_format_invalid",
    );
}

async fn roles_mount_only_their_modules(backend: Backend) {
    let core = TestApp::spawn_with(backend, "role = \"core\"\n[roles]\ncore = []\n").await;
    assert_error(
        &core.get("/v1/users").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let (status, _) = core.get("/v1/jwks").await;
    assert_eq!(status, StatusCode::OK, "the core stays on in every role");

    let disabled = TestApp::spawn_with(backend, "[modules.users]\nenabled = false\n").await;
    assert_error(
        &disabled.get("/v1/users").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );

    let users_role = TestApp::spawn_with(backend, "role = \"users\"\n").await;
    let (status, body) = users_role.get("/v1/users").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[server]\nmax_body_bytes = 2048\n").await;
    let body = json!({"email_address": ["big@example.com"], "password": "long enough", "first_name": "x".repeat(4000)});
    let response = app.post("/v1/users", body).await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_body_too_large",
    );
    assert_eq!(app.user_count().await, 0);
}

async fn restart_reuses_the_instance(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let (status, user) = first
        .post(
            "/v1/users",
            json!({"email_address": ["kept@example.com"], "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, jwks_before) = first.get("/v1/jwks").await;
    let TestApp {
        dir,
        database_url,
        state,
        ..
    } = first;
    let instance_id = state.instance.id.clone();
    let second = TestApp::spawn_on(backend, dir, database_url, "").await;
    assert_eq!(second.state.instance.id, instance_id);
    let (_, jwks_after) = second.get("/v1/jwks").await;
    assert_eq!(jwks_before, jwks_after, "the signing key is reused");
    let (status, fetched) = second
        .get(&format!("/v1/users/{}", user["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fetched["email_addresses"][0]["email_address"],
        "kept@example.com"
    );
}

async fn a_module_can_have_its_own_database(backend: Backend) {
    use diesel::prelude::*;
    use steward::db::schema::users;
    use steward::modules::Module;

    let dir = tempfile::tempdir().unwrap();
    let primary = common::fresh_database(backend, dir.path());
    let users_db = match backend {
        Backend::Sqlite => format!("sqlite://{}/users.db", dir.path().display()),
        Backend::Postgres => common::fresh_database(backend, dir.path()),
    };
    let extra = format!("[database.modules.users]\nurl = \"{users_db}\"\n");
    let app = TestApp::spawn_on(backend, dir, primary, &extra).await;
    let (status, _) = app
        .post(
            "/v1/users",
            json!({"email_address": ["own@example.com"], "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.user_count().await, 1);

    let (_, ready) = app.get("/readyz").await;
    let names: Vec<&str> = ready["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["primary", "users"]);
    let state = app.state.clone();
    let (in_primary, in_module) = actix_web::rt::task::spawn_blocking(move || {
        let count = |pool: &steward::db::DbPool| -> i64 {
            users::table
                .count()
                .get_result(&mut *pool.get_blocking().unwrap())
                .unwrap()
        };
        (
            count(state.db.primary()),
            count(state.db.for_module(Module::Users)),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        (in_primary, in_module),
        (0, 1),
        "users live in the module database only"
    );
}
