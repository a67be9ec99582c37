//! Process roles behind nginx (Debian's, with the shipped
//! `deploy/nginx.conf`): a `session` process and an everything-else process
//! share a database; with the everything-else process killed, token refresh
//! through nginx keeps working while sign-ins fail cleanly with 503.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::postgres::{cluster, free_port};
use crate::common::process::{self, call, Process, Serve, Server};
use crate::common::{metric_value, metrics, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "sk_test_rolestestkeyrolestestkeyroles0123";

/// A `steward serve` process; returns it with its FAPI and BAPI ports.
fn steward(database_url: &str, dir: &Path, role: &str) -> (Server, u16, u16) {
    let config = dir.join(format!("{role}.toml"));
    std::fs::write(
        &config,
        "[roles]\nmain = [\"orgs\", \"signin\", \"signup\", \"users\"]\n",
    )
    .unwrap();
    let spool = dir.join(format!("{role}-spool.db"));
    let mut serve = Serve::new(database_url, KEY, &spool);
    serve
        .command
        .args(["--role", role, "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(dir.join(format!("{role}.log"))).unwrap());
    let server = serve.start();
    let (fapi, bapi) = (server.fapi_port, server.bapi_port);
    (server, fapi, bapi)
}

/// nginx with the shipped configuration, its addresses replaced.
fn nginx(dir: &Path, session_port: u16, main_port: u16) -> (Process, u16) {
    let port = free_port();
    let conf = include_str!("../../deploy/nginx.conf")
        .replace("127.0.0.1:8180", &format!("127.0.0.1:{session_port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{main_port}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    (process::nginx(dir, &conf, port), port)
}

async fn check_roles_behind_nginx(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let (main, main_fapi, main_bapi) = steward(&database_url, dir.path(), "main");
    let (_session, session_fapi, session_bapi) = steward(&database_url, dir.path(), "session");
    let (_nginx, port) = nginx(dir.path(), session_fapi, main_fapi);
    let http = reqwest::Client::new();
    let front = |path: &str| format!("http://127.0.0.1:{port}{path}?_is_native=1");

    // The session process has no users API; the main process has it.
    let missing = http
        .get(format!("http://127.0.0.1:{session_bapi}/v1/users"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let created = http
        .post(format!("http://127.0.0.1:{main_bapi}/v1/users"))
        .bearer_auth(KEY)
        .json(&json!({"email_address": ["roles@example.com"], "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);

    let form = [("identifier", "roles@example.com"), ("password", PASSWORD)];
    let (status, token, body, _) = call(
        &http,
        reqwest::Method::POST,
        front("/v1/client/sign_ins"),
        None,
        &form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client_token = token.expect("client JWT");
    let session = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = front(&format!("/v1/client/sessions/{session}/tokens"));
    let (status, _, body, _) = call(
        &http,
        reqwest::Method::POST,
        refresh.clone(),
        Some(&client_token),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    drop(main);
    for _ in 0..3 {
        let (status, _, body, _) = call(
            &http,
            reqwest::Method::POST,
            refresh.clone(),
            Some(&client_token),
            &[],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "token refresh without the main process: {body}"
        );
        assert_eq!(body["object"], "token");
    }
    let (status, _, body, _) = call(
        &http,
        reqwest::Method::GET,
        front("/v1/client"),
        Some(&client_token),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["sessions"][0]["id"], session.as_str());
    let (status, _, body, retry_after) = call(
        &http,
        reqwest::Method::POST,
        front("/v1/client/sign_ins"),
        None,
        &form,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "sign-in fails cleanly: {body}"
    );
    assert_eq!(body["errors"][0]["code"], "service_unavailable");
    assert_eq!(retry_after.as_deref(), Some("5"));

    check_refusals(&http, dir.path(), port, session_fapi, session_bapi).await;
}

/// Sends `request` to `port` on a connection of its own; returns the answer.
fn raw(port: u16, request: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and JSON body of a raw HTTP/1.1 answer, checking its exact
/// `Content-Type`.
fn clerk_error(answer: &str) -> (u16, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let status = head[9..12].parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(body["errors"][0]["code"].is_string(), "{body}");
    (status, body)
}

/// What nginx answers Clerk-style in front of Steward: requests Steward's
/// HTTP parser would refuse with no body, and `/metrics`, which Steward
/// serves on the Backend API listener only. Steward itself logs no error
/// for a refused request, and counts it.
async fn check_refusals(
    http: &reqwest::Client,
    dir: &Path,
    nginx: u16,
    session_fapi: u16,
    session_bapi: u16,
) {
    let uri_too_long = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let (status, body) = clerk_error(&raw(nginx, uri_too_long.as_bytes()));
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (414, &json!("bad_request"))
    );
    let bad_length = b"POST /v1/client/sign_ins HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n";
    let (status, _) = clerk_error(&raw(nginx, bad_length));
    assert_eq!(status, 400);
    let (status, body) = clerk_error(&raw(
        nginx,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (404, &json!("resource_not_found"))
    );
    let ready = http
        .get(format!("http://127.0.0.1:{nginx}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );

    // Straight to Steward, the parser's refusal has no body (see
    // tests/it/http_edges.rs), but no ERROR line either.
    let answer = raw(session_fapi, uri_too_long.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = metrics(http, &format!("http://127.0.0.1:{session_bapi}")).await;
        if metric_value(&metrics, "steward_http_malformed_requests_total") == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the refused request is counted");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.join("session.log")).unwrap();
    assert!(!log.contains("parse error"), "{log}");
}

#[actix_web::test]
async fn token_refresh_survives_the_main_process_behind_nginx_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_roles_behind_nginx(format!("sqlite://{}/steward.db", dir.path().display())).await;
}

#[actix_web::test]
async fn token_refresh_survives_the_main_process_behind_nginx_postgres() {
    check_roles_behind_nginx(cluster().create_database("roles_nginx")).await;
}
