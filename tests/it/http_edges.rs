//! The HTTP edges an attacker tries first: foreign and `null` origins,
//! CORS preflights, oversized bodies, malformed requests below any
//! handler, ambiguous query parameters, caching of credentials, and the
//! modes of the files Steward creates.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use crate::common::fapi::{FapiClient, APP_ORIGIN};
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CONFIG: &str = "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n";

on_every_backend!(
    a_null_origin_changes_nothing,
    refusals_outside_handlers_are_clerk_style,
    credential_responses_are_not_stored,
    database_and_spool_files_are_private,
);

async fn a_null_origin_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user = user(&app, "null@example.com").await;

    // A sandboxed iframe or a `data:` page sends `Origin: null`.
    let mut framed = FapiClient::web(&app);
    framed.origin = Some("null".to_owned());
    let refused = framed
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "null@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "origin_invalid");
    let refused = framed
        .post(
            "/v1/client/sign_ups",
            &[("email_address", "new@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "origin_invalid");
    assert_eq!(framed.token, None, "no client was handed out");
    assert_eq!(app.user_count().await, 1, "no user was created");
    let (_, sessions) = app
        .get(&format!("/v1/sessions?user_id={}", user.as_str()))
        .await;
    assert_eq!(sessions, json!([]), "no session was created");

    // Reads stay open to it, and the allowed origin still signs in.
    let (status, _) = framed.get("/v1/environment").await;
    assert_eq!(status, StatusCode::OK);
    let mut browser = FapiClient::web(&app);
    browser.sign_in("null@example.com", PASSWORD).await;
}

/// A CORS preflight from `origin` for a POST to `/v1/client/sign_ins`.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(
            Method::OPTIONS,
            format!("{}/v1/client/sign_ins", app.frontend_url),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap()
}

/// Sends `request` on a connection of its own and returns the raw answer:
/// for requests reqwest will not send (a bad `Content-Length`).
async fn raw(addr: &str, request: Vec<u8>) -> String {
    let addr = addr.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&request).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

async fn refusals_outside_handlers_are_clerk_style(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &format!("{CONFIG}[server]\nmax_body_bytes = 2048\n"),
    )
    .await;

    // A preflight from a foreign origin gets the 403 its POST would get.
    for origin in ["http://evil.example.com", "null"] {
        let refused = app
            .send(
                app.http
                    .request(
                        Method::OPTIONS,
                        format!("{}/v1/client/sign_ins", app.frontend_url),
                    )
                    .header("origin", origin)
                    .header("access-control-request-method", "POST"),
            )
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "origin_invalid");
    }
    let allowed = preflight(&app, APP_ORIGIN).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["access-control-allow-origin"], APP_ORIGIN);

    // An oversized Frontend API body is a 413, as on the Backend API.
    let mut browser = FapiClient::web(&app);
    let long_name = "x".repeat(4000);
    let refused = browser
        .post(
            "/v1/client/sign_ups",
            &[
                ("email_address", "big@example.com"),
                ("password", PASSWORD),
                ("first_name", &long_name),
            ],
        )
        .await;
    assert_error(
        &refused,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_body_too_large",
    );
    assert_eq!(app.user_count().await, 0);

    // A parameter sent both as a value and as a list is named as itself.
    let refused = app.get("/v1/users?user_id=x&user_id[]=y").await;
    let error = assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    assert_eq!(error["meta"]["param_name"], "user_id", "{error}");

    // A long URI that the HTTP parser accepts gets a Clerk-style answer.
    let long_path = format!("/v1/{}", "a".repeat(20_000));
    let response = app
        .send(app.http.get(format!("{}{long_path}", app.frontend_url)))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");

    // Past the parser's own limits (a URI over 64 KiB, a Content-Length
    // that is not a number), actix's HTTP/1 dispatcher answers before any
    // middleware or handler runs, with a status and no body; no option
    // changes that (see docs/operations.md). deploy/nginx.conf answers
    // these itself, Clerk-style (tests/it/roles_nginx.rs).
    let uri_too_long = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let bad_length = "POST /v1/client/sign_ins HTTP/1.1\r\nHost: x\r\n\
                      Content-Length: abc\r\nConnection: close\r\n\r\n";
    for request in [uri_too_long, bad_length.to_owned()] {
        let answer = raw(&app.frontend_url, request.into_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 ") && answer.contains("content-length: 0"),
            "{answer}"
        );
    }
    let (status, _) = app.get("/v1/users").await;
    assert_eq!(status, StatusCode::OK, "the listener serves on");
}

/// Asserts the headers that keep a credential-carrying response out of
/// caches and from being sniffed as anything but JSON.
#[track_caller]
fn assert_private(response: &reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::OK, "{what}");
    assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
    assert_eq!(
        response.headers()["x-content-type-options"],
        "nosniff",
        "{what}"
    );
}

async fn credential_responses_are_not_stored(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user = user(&app, "private@example.com").await;
    let mut browser = FapiClient::web(&app);
    let session_id = browser.sign_in("private@example.com", PASSWORD).await;
    let cookie = format!("__client={}", browser.token.clone().unwrap());
    let fapi = |method: Method, path: &str| {
        app.http
            .request(method, format!("{}{path}", app.frontend_url))
            .header("origin", APP_ORIGIN)
            .header("cookie", cookie.as_str())
    };

    let client = fapi(Method::GET, "/v1/client").send().await.unwrap();
    assert_private(&client, "GET /v1/client");
    let token_path = format!("/v1/client/sessions/{session_id}/tokens");
    for attempt in ["a fresh token", "a reused token"] {
        let token = fapi(Method::POST, &token_path).send().await.unwrap();
        assert_private(&token, attempt);
        let body: Value = token.json().await.unwrap();
        assert!(body["jwt"].is_string(), "{body}");
    }

    let sign_in = fapi(Method::POST, "/v1/client/sign_ins")
        .form(&[
            ("identifier", "private@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_private(&sign_in, "a sign-in envelope (signing in again)");

    let (_, session) = app.post("/v1/sessions", json!({"user_id": user})).await;
    let token = app
        .bapi(
            Method::POST,
            &format!("/v1/sessions/{}/tokens", session["id"].as_str().unwrap()),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_private(&token, "a Backend API session token");
}

/// A file's permission bits.
fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn database_and_spool_files_are_private(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/steward.db", data.display()),
        Backend::Postgres | Backend::PgBouncer => {
            crate::common::fresh_database(backend, dir.path())
        }
    };
    let root = dir.path().to_owned();
    let app = TestApp::spawn_on(backend, dir, url, "").await;
    // A write, so the WAL files exist.
    user(&app, "modes@example.com").await;

    let mut files = vec![root.join("spool.db")];
    if backend == Backend::Sqlite {
        assert_eq!(mode(&data), 0o700, "the database directory");
        files.push(data.join("steward.db"));
    }
    for file in files {
        for suffix in ["", "-wal", "-shm"] {
            let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}
