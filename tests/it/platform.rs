//! Process-level behaviour: health, readiness, metrics, trace ids, JWKS,
//! roles, body limits, and the instance surviving a restart; instances
//! from earlier releases are in `upgrades`.

use crate::common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_every_backend!(
    health_readiness_and_metrics,
    invented_methods_add_no_series,
    trace_ids_and_exact_content_type,
    jwks_on_both_listeners,
    roles_mount_only_their_modules,
    oversized_bodies_are_refused,
    restart_reuses_the_instance,
    a_module_can_have_its_own_database,
    key_rotation_publishes_before_signing,
);

mod schema_layout;
mod upgrades;

async fn health_readiness_and_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for base in [&app.frontend_url, &app.backend_url] {
        let (status, body) = app.send(app.http.get(format!("{base}/healthz"))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    }
    // The Backend API's readiness names each database; the Frontend API's,
    // for load balancers on the internet, says only whether it serves.
    let (status, body) = app.get("/readyz").await;
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
    let (status, body) = app
        .send(app.http.get(format!("{}/readyz", app.frontend_url)))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
    let public_metrics = app
        .send(app.http.get(format!("{}/metrics", app.frontend_url)))
        .await;
    assert_error(&public_metrics, StatusCode::NOT_FOUND, "resource_not_found");

    app.get("/v1/users").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("steward_http_request_duration_seconds_bucket{listener=\"backend\",method=\"GET\",route=\"/v1/users\",status=\"200\""),
        "HTTP latency per route"
    );
    assert!(
        metrics.contains("steward_http_request_duration_seconds_bucket{listener=\"frontend\",method=\"GET\",route=\"/healthz\",status=\"200\""),
        "HTTP latency of a hot route, recorded through its cached handle"
    );
    assert!(
        metrics.contains(
            "steward_db_query_duration_seconds_bucket{pool=\"primary\",query=\"users.list\""
        ),
        "DB latency per query"
    );
}

/// The request-duration series of the Frontend API's `/healthz`, by labels.
fn healthz_series(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|line| line.starts_with("steward_http_request_duration_seconds_count{"))
        .filter(|line| line.contains("listener=\"frontend\"") && line.contains("/healthz"))
        .map(|line| line.split_once('}').unwrap().0)
        .collect()
}

async fn invented_methods_add_no_series(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let healthz = format!("{}/healthz", app.frontend_url);
    let invented = |n: usize| Method::from_bytes(format!("M{n:05}ZZ").as_bytes()).unwrap();
    let response = app.send(app.http.request(invented(0), &healthz)).await;
    assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
    let before = app.metrics().await;
    let series_before = healthz_series(&before);
    assert!(
        series_before.iter().any(|s| s.contains("method=\"other\"")),
        "an invented method is counted as `other`: {series_before:?}"
    );
    for n in 1..=200 {
        let response = app
            .http
            .request(invented(n), &healthz)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let after = app.metrics().await;
    assert_eq!(
        healthz_series(&after),
        series_before,
        "200 invented methods add no time series"
    );
    assert!(
        !after.contains("ZZ\""),
        "no label carries an invented method"
    );
    // Other tests of this binary share the recorder and may add their own
    // routes' series meanwhile; 200 new series would add about 480 KB.
    assert!(
        after.len() < before.len() + 64 * 1024,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
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
    let app = TestApp::spawn_with_module_database(backend, "users", "").await;
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
    let rows = app.row_counts().await;
    assert_eq!(rows.rows("users", "users"), 1);
    // Each database holds only its parts of the schema: the users area's
    // tables are in its own database alone, which has nothing else but
    // the tables every database has.
    let mut module_tables = rows.tables("users");
    module_tables.sort();
    let mut expected = vec![
        "credential_checks",
        "email_addresses",
        "email_verifications",
        "enterprise_accounts",
        "external_accounts",
        "outbox",
        "outbox_backfills",
        "outbox_versions",
        "users",
    ];
    if backend.is_postgres() {
        expected.push("commit_receipts");
        expected.sort();
    }
    assert_eq!(module_tables, expected);
    let primary_tables = rows.tables("primary");
    assert!(primary_tables.contains(&"sessions"), "{primary_tables:?}");
    assert!(!primary_tables.contains(&"users"), "{primary_tables:?}");
    assert!(
        !primary_tables.contains(&"email_addresses"),
        "{primary_tables:?}"
    );

    // The client object reads its sessions from the primary and each
    // session's user from the users database.
    let mut phone = crate::common::fapi::FapiClient::native(&app);
    let session_id = phone.sign_in("own@example.com", "long enough").await;
    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let session = &client["response"]["sessions"][0];
    assert_eq!(session["id"], session_id.as_str());
    assert_eq!(
        session["user"]["email_addresses"][0]["email_address"],
        "own@example.com"
    );
    assert_eq!(session["public_user_data"]["identifier"], "own@example.com");
}

/// A token for a new session of `user_id`, minted through the Backend API.
async fn new_session_token(app: &TestApp, user_id: &serde_json::Value) -> String {
    let (_, session) = app.post("/v1/sessions", json!({"user_id": user_id})).await;
    let (_, token) = app
        .post(
            &format!("/v1/sessions/{}/tokens", session["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    token["jwt"].as_str().unwrap().to_owned()
}

async fn key_rotation_publishes_before_signing(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[session]\nkey_activation_delay = \"0s\"\n").await;
    let (_, user) = app
        .post(
            "/v1/users",
            json!({"email_address": ["rotate@example.com"], "password": "long enough"}),
        )
        .await;
    let kid_of = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    let old_token = new_session_token(&app, &user["id"]).await;
    let old_kid = kid_of(&old_token);

    let state = app.state.clone();
    let (new_kid, _) = actix_web::rt::task::spawn_blocking(move || {
        let rotated = steward::instance::rotate_signing_key(
            state.db.primary(),
            &state.settings,
            &state.instance,
        )?;
        steward::instance::reload(state.db.primary(), &state.settings, &state.instance)?;
        Ok::<_, anyhow::Error>(rotated)
    })
    .await
    .unwrap()
    .unwrap();
    assert_ne!(new_kid, old_kid);
    let (_, jwks) = app.get("/v1/jwks").await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        published,
        [new_kid.as_str(), old_kid.as_str()],
        "the old key stays published for its tokens"
    );
    let new_token = new_session_token(&app, &user["id"]).await;
    assert_eq!(kid_of(&new_token), new_kid, "the new key signs");
}
