//! Process roles from outside: each built-in role serves exactly its
//! areas' routes on each listener (404 elsewhere); the shipped nginx
//! configuration, turned into the full per-area split, routes each area to
//! its own process; and a process connects only to the databases its role
//! uses, so a module database that is down at start-up stops nothing that
//! does not need it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::postgres::{cluster, free_port, PgPair};
use crate::common::process::{call, nginx, Process, Serve, Server};
use crate::common::{assert_error, Backend, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// One route per area and listener that answers something other than 404
/// (200, 401 signed out, 422 missing parameter) wherever the area is
/// served: (area, Backend API?, method, path).
const PROBES: [(&str, bool, Method, &str); 11] = [
    ("session", false, Method::GET, "/v1/environment"),
    ("signin", false, Method::POST, "/v1/client/sign_ins"),
    ("signup", false, Method::POST, "/v1/client/sign_ups"),
    ("users", false, Method::GET, "/v1/me"),
    (
        "orgs",
        false,
        Method::GET,
        "/v1/me/organization_memberships",
    ),
    ("session", true, Method::GET, "/v1/sessions"),
    ("signin", true, Method::POST, "/v1/sign_in_tokens"),
    ("users", true, Method::GET, "/v1/users"),
    ("orgs", true, Method::GET, "/v1/organizations"),
    ("billing", false, Method::GET, "/v1/billing/plans"),
    ("billing", true, Method::GET, "/v1/billing/plans"),
];

/// Each built-in role with the areas it serves on the Frontend API and on
/// the Backend API (sign-up has no Backend API).
const ROLES: [(&str, &[&str], &[&str]); 10] = [
    (
        "all",
        &["session", "signin", "signup", "users", "orgs", "billing"],
        &["session", "signin", "users", "orgs", "billing"],
    ),
    ("billing", &["billing"], &["billing"]),
    ("session", &["session"], &["session"]),
    ("signup", &["signup"], &[]),
    ("signin", &["signin"], &["signin"]),
    ("users", &["users"], &["users"]),
    ("orgs", &["orgs"], &["orgs"]),
    (
        "frontend",
        &["signin", "signup", "users", "orgs", "billing"],
        &[],
    ),
    (
        "backend",
        &[],
        &["session", "signin", "users", "orgs", "billing"],
    ),
    ("worker", &[], &[]),
];

async fn probe(app: &TestApp, backend: bool, method: Method, path: &str) -> (StatusCode, Value) {
    let post = method == Method::POST;
    let mut request = if backend {
        app.bapi(method, path)
    } else {
        app.http
            .request(method, format!("{}{path}", app.frontend_url))
    };
    if post {
        request = request.form(&[("locale", "en")]);
    }
    app.send(request).await
}

async fn built_in_roles_serve_exactly_their_routes(backend: Backend) {
    for (role, frontend, backend_areas) in ROLES {
        let app = TestApp::spawn_with(backend, &format!("role = \"{role}\"\n")).await;
        for (area, on_backend, method, path) in PROBES {
            let served = if on_backend {
                backend_areas.contains(&area)
            } else {
                frontend.contains(&area)
            };
            let response = probe(&app, on_backend, method.clone(), path).await;
            let what = format!("{role}: {method} {path} ({area})");
            if served {
                assert_ne!(response.0, StatusCode::NOT_FOUND, "{what}: {}", response.1);
            } else {
                assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
            }
        }
        // The core is in every role: the JWKS on both listeners, health.
        for url in [&app.frontend_url, &app.backend_url] {
            let health = app.http.get(format!("{url}/healthz"));
            assert_eq!(app.send(health).await.0, StatusCode::OK, "{role} {url}");
        }
        let jwks = app
            .http
            .get(format!("{}/.well-known/jwks.json", app.frontend_url));
        assert_eq!(app.send(jwks).await.0, StatusCode::OK, "{role}");
        let (status, _) = app.get("/v1/jwks").await;
        assert_eq!(status, StatusCode::OK, "{role}");
    }
}

on_every_backend!(built_in_roles_serve_exactly_their_routes);

/// The Backend API's detailed `/readyz`.
async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    app.send(app.http.get(format!("{}/readyz", app.backend_url)))
        .await
}

/// The readiness entry of the database called `name`, if reported.
fn database<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .find(|db| db["name"] == name)
}

/// The orgs area on a database of its own that is down when the
/// processes start: a `signin` process (which neither serves nor calls
/// orgs) starts ready without it; an `orgs` process starts too, answers
/// 503 on its routes and names the database in `/readyz`, and becomes
/// ready, with the database migrated, once it is up.
#[actix_web::test]
async fn a_module_database_down_at_start_up_stops_only_what_needs_it() {
    let pair = actix_web::rt::task::spawn_blocking(PgPair::start)
        .await
        .unwrap();
    pair.kill_primary();
    let extra = format!(
        "[database]\nconnect_timeout = \"1s\"\nretry_budget = \"1s\"\n\
         [database.modules.orgs]\nurl = \"{}\"\n",
        pair.primary_url
    );

    let signin =
        TestApp::spawn_with(Backend::Postgres, &format!("role = \"signin\"\n{extra}")).await;
    let (status, body) = readyz(&signin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    assert!(database(&body, "orgs").is_none(), "{body}");
    let (status, body) = signin
        .post("/v1/sign_in_tokens", json!({ "user_id": "user_missing" }))
        .await;
    assert_ne!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    let orgs = TestApp::spawn_with(Backend::Postgres, &format!("role = \"orgs\"\n{extra}")).await;
    let (status, body) = readyz(&orgs).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(
        database(&body, "orgs").expect("orgs reported")["status"],
        "unavailable"
    );
    assert_eq!(database(&body, "primary").expect("primary")["status"], "ok");
    assert_error(
        &orgs.get("/v1/organizations").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );

    pair.start_primary();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readyz(&orgs).await;
        if status == StatusCode::OK {
            assert_eq!(body["status"], "ready", "{body}");
            assert_eq!(database(&body, "orgs").expect("orgs")["status"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Migrated in the background: the orgs tables are there.
    let (status, body) = orgs.get("/v1/organizations").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_count"], 0, "{body}");
}

const KEY: &str = "sk_test_arearolestestkeyarearolestest0123";

/// A `steward serve --role ROLE` process; returns it with its FAPI and
/// BAPI ports.
fn steward(database_url: &str, dir: &Path, role: &str) -> (Server, u16, u16) {
    let spool = dir.join(format!("{role}-spool.db"));
    let mut serve = Serve::new(database_url, KEY, &spool);
    serve
        .command
        .args(["--role", role])
        .stderr(std::fs::File::create(dir.join(format!("{role}.log"))).unwrap());
    let server = serve.start();
    let (fapi, bapi) = (server.fapi_port, server.bapi_port);
    (server, fapi, bapi)
}

/// nginx with the shipped configuration turned into the full per-area
/// split (each area upstream's commented address), addresses replaced by
/// the areas' processes' Frontend API ports.
fn nginx_full_split(dir: &Path, ports: &[(&str, u16)]) -> (Process, u16) {
    let port = free_port();
    let mut conf = include_str!("../../deploy/nginx.conf")
        .replace(
            "server 127.0.0.1:8080;\n        # Full split: server",
            "server",
        )
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    assert!(
        !conf.contains("server 127.0.0.1:8080;"),
        "every area upstream has a full-split address"
    );
    for (shipped, (area, actual)) in [8180, 8181, 8182, 8183, 8184, 8185].iter().zip(ports) {
        let upstream = format!("upstream steward_{area} {{\n        server 127.0.0.1:{shipped};");
        assert!(conf.contains(&upstream), "{upstream}");
        conf = conf.replace(
            &format!("127.0.0.1:{shipped};"),
            &format!("127.0.0.1:{actual};"),
        );
    }
    (nginx(dir, &conf, port), port)
}

/// The full per-area split behind the shipped nginx configuration: one
/// process per area, each serving only its own routes, and every area's
/// Frontend API reaches its process through nginx. With the orgs process
/// gone, its paths answer a Clerk-style 503 and the other areas carry on.
async fn full_per_area_split_behind_nginx(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let areas = ["session", "signin", "signup", "users", "orgs", "billing"];
    let mut processes: Vec<(Server, u16, u16)> = areas
        .iter()
        .map(|role| steward(&database_url, dir.path(), role))
        .collect();
    let ports: Vec<(&str, u16)> = areas
        .iter()
        .copied()
        .zip(processes.iter().map(|p| p.1))
        .collect();
    let (_nginx, port) = nginx_full_split(dir.path(), &ports);
    let http = reqwest::Client::new();
    let front = |path: &str| format!("http://127.0.0.1:{port}{path}?_is_native=1");

    let users_bapi = processes[3].2;
    let created = http
        .post(format!("http://127.0.0.1:{users_bapi}/v1/users"))
        .bearer_auth(KEY)
        .json(&json!({"email_address": ["split@example.com"], "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);

    // Each call below succeeds only if nginx sent it to the one process
    // that serves its area: the others answer 404.
    let form = [("identifier", "split@example.com"), ("password", PASSWORD)];
    let (status, token, body, _) = call(
        &http,
        Method::POST,
        front("/v1/client/sign_ins"),
        None,
        &form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "sign-in: {body}");
    let token = token.expect("client JWT");
    let session = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = front(&format!("/v1/client/sessions/{session}/tokens"));
    let (status, _, body, _) = call(&http, Method::POST, refresh.clone(), Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "token: {body}");
    let (status, _, body, _) = call(&http, Method::GET, front("/v1/me"), Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "me: {body}");
    assert_eq!(
        body["response"]["email_addresses"][0]["email_address"],
        "split@example.com"
    );
    let memberships = front("/v1/me/organization_memberships");
    let (status, _, body, _) =
        call(&http, Method::GET, memberships.clone(), Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "memberships: {body}");
    let sign_up = [("email_address", "new@example.com")];
    let (status, _, body, _) = call(
        &http,
        Method::POST,
        front("/v1/client/sign_ups"),
        None,
        &sign_up,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "sign-up: {body}");
    assert_eq!(body["response"]["object"], "sign_up_attempt", "{body}");
    let subscription = front("/v1/me/billing/subscription");
    let (status, _, body, _) = call(&http, Method::GET, subscription, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "billing: {body}");
    assert_eq!(
        body["response"]["object"], "commerce_subscription",
        "{body}"
    );
    let (status, _, body, _) = call(&http, Method::GET, front("/v1/nowhere"), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "resource_not_found");

    drop(processes.remove(4));
    let (status, _, body, retry_after) =
        call(&http, Method::GET, memberships, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "orgs gone: {body}");
    assert_eq!(body["errors"][0]["code"], "service_unavailable");
    assert_eq!(retry_after.as_deref(), Some("5"));
    let (status, _, body, _) = call(&http, Method::GET, front("/v1/me"), Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "me without orgs: {body}");
    let (status, _, body, _) = call(&http, Method::POST, refresh, Some(&token), &[]).await;
    assert_eq!(status, StatusCode::OK, "token without orgs: {body}");
}

#[actix_web::test]
async fn full_per_area_split_behind_nginx_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    full_per_area_split_behind_nginx(format!("sqlite://{}/steward.db", dir.path().display())).await;
}

#[actix_web::test]
async fn full_per_area_split_behind_nginx_postgres() {
    full_per_area_split_behind_nginx(cluster().create_database("area_roles_nginx")).await;
}
