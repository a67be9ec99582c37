//! The small split of `deploy/nginx.conf` with the session area on its own
//! PostgreSQL database: `steward serve --role session` on the session
//! database, `--role frontend` and `--role backend` on the main one, nginx
//! in front. With the main database stopped, signed-in users keep their
//! tokens, their client and their organization switches, and sign-ins
//! fail cleanly; with the session database stopped, a role change waits in
//! the outbox and arrives once when it is back.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::jwt_claims as claims;
use crate::common::postgres::{free_port, PgPair};
use crate::common::process::{self, call, Process, Serve, Server};
use crate::common::PASSWORD;
use diesel::prelude::*;
use diesel::PgConnection;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use steward::db::schema::{outbox, outbox_versions, session_org_claims};

const KEY: &str = "sk_test_splitoutagekeysplitoutagekey01234";

/// A `steward serve --role ROLE` process on `main`, with the session
/// area's tables on `session`.
fn steward(main: &str, session: &str, dir: &Path, role: &str) -> Server {
    let config = dir.join(format!("{role}.toml"));
    std::fs::write(
        &config,
        format!("[database.modules.session]\nurl = \"{session}\"\n"),
    )
    .unwrap();
    let mut serve = Serve::new(main, KEY, &dir.join(format!("{role}-spool.db")));
    serve
        .command
        .args(["--role", role, "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(dir.join(format!("{role}.log"))).unwrap());
    serve.start()
}

/// nginx with the shipped configuration, its addresses replaced: the
/// session upstream to `session_port`, every other area to `main_port`.
fn nginx(dir: &Path, session_port: u16, main_port: u16) -> (Process, u16) {
    let port = free_port();
    let conf = include_str!("../../deploy/nginx.conf")
        .replace("127.0.0.1:8180", &format!("127.0.0.1:{session_port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{main_port}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    (process::nginx(dir, &conf, port), port)
}

/// A Backend API call to the `backend` process; asserts a 200.
async fn bapi(
    http: &reqwest::Client,
    backend: &Server,
    method: Method,
    path: &str,
    body: Value,
) -> Value {
    let response = http
        .request(method, format!("{}{path}", backend.bapi))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// A signed-in native client talking to nginx.
struct Phone<'a> {
    http: &'a reqwest::Client,
    port: u16,
    token: String,
    session: String,
}

impl Phone<'_> {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}?_is_native=1", self.port)
    }

    async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let (status, _, body, _) =
            call(self.http, method, self.url(path), Some(&self.token), form).await;
        (status, body)
    }

    /// A token refresh: its status and, on 200, the token's claims.
    async fn refresh(&self) -> (StatusCode, Value) {
        let path = format!("/v1/client/sessions/{}/tokens", self.session);
        let (status, body) = self.call(Method::POST, &path, &[]).await;
        if status != StatusCode::OK {
            return (status, body);
        }
        assert_eq!(body["object"], "token", "{body}");
        (status, claims(body["jwt"].as_str().unwrap()))
    }

    /// Refreshes until the claims satisfy `wanted`, for at most `within`.
    async fn poll(&self, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, claims) = self.refresh().await;
            if status == StatusCode::OK && wanted(&claims) {
                return claims;
            }
            assert!(
                Instant::now() < deadline,
                "no token as wanted within {within:?}: {status} {claims}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes `org` the active organization.
    async fn switch(&self, org: &str) -> (StatusCode, Value) {
        let path = format!("/v1/client/sessions/{}/touch", self.session);
        self.call(Method::POST, &path, &[("active_organization_id", org)])
            .await
    }
}

/// The version the orgs area's outbox last gave the (user, organization)
/// claims, and how many of its rows still wait for delivery.
fn outbox_state(main: &str, user: &str, org: &str) -> (i64, i64) {
    let mut conn = PgConnection::establish(main).unwrap();
    let entity = format!("orgs/{org}/{user}");
    let latest = outbox_versions::table
        .filter(outbox_versions::entity.eq(&entity))
        .select(outbox_versions::version)
        .first(&mut conn)
        .unwrap();
    let waiting = outbox::table
        .filter(outbox::entity.eq(&entity))
        .filter(outbox::delivered_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    (latest, waiting)
}

/// The versions of the session database's claims rows for the pair.
fn applied_versions(session: &str, user: &str, org: &str) -> Vec<i64> {
    let mut conn = PgConnection::establish(session).unwrap();
    session_org_claims::table
        .filter(session_org_claims::user_id.eq(user))
        .filter(session_org_claims::organization_id.eq(org))
        .select(session_org_claims::version)
        .load(&mut conn)
        .unwrap()
}

#[actix_web::test]
async fn the_session_area_on_its_own_database_outlives_the_main_one_behind_nginx() {
    let main_db = PgPair::start();
    let session_db = PgPair::start();
    let (main_url, session_url) = (&main_db.primary_url, &session_db.primary_url);
    let dir = tempfile::tempdir().unwrap();
    // One at a time: each migrates the databases it uses on start.
    let backend = steward(main_url, session_url, dir.path(), "backend");
    let frontend = steward(main_url, session_url, dir.path(), "frontend");
    let session = steward(main_url, session_url, dir.path(), "session");
    let (_nginx, port) = nginx(dir.path(), session.fapi_port, frontend.fapi_port);
    let http = reqwest::Client::new();

    let mut ids = Vec::new();
    for email in ["owner@example.com", "member@example.com"] {
        let user = bapi(
            &http,
            &backend,
            Method::POST,
            "/v1/users",
            json!({"email_address": [email], "password": PASSWORD}),
        )
        .await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let (owner, member) = (&ids[0], &ids[1]);
    let mut orgs = Vec::new();
    for name in ["First", "Second"] {
        let org = bapi(
            &http,
            &backend,
            Method::POST,
            "/v1/organizations",
            json!({"name": name, "created_by": owner}),
        )
        .await;
        let org = org["id"].as_str().unwrap().to_owned();
        bapi(
            &http,
            &backend,
            Method::POST,
            &format!("/v1/organizations/{org}/memberships"),
            json!({"user_id": member, "role": "org:member"}),
        )
        .await;
        orgs.push(org);
    }
    let (first, second) = (&orgs[0], &orgs[1]);

    let form = [("identifier", "member@example.com"), ("password", PASSWORD)];
    let sign_in = format!("http://127.0.0.1:{port}/v1/client/sign_ins?_is_native=1");
    let (status, token, body, _) = call(&http, Method::POST, sign_in.clone(), None, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let phone = Phone {
        http: &http,
        port,
        token: token.expect("client JWT"),
        session: body["response"]["created_session_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let (status, body) = phone.switch(first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = phone
        .poll(Duration::from_secs(10), |c| c["o"]["id"] == first.as_str())
        .await;
    assert_eq!(claims["o"]["rol"], "member");

    // Made just before the stop, and delivered: it shows in the next token.
    let path = format!("/v1/organizations/{first}/memberships/{member}");
    bapi(
        &http,
        &backend,
        Method::PATCH,
        &path,
        json!({"role": "org:admin"}),
    )
    .await;
    phone
        .poll(Duration::from_secs(30), |c| c["o"]["rol"] == "admin")
        .await;

    main_db.kill_primary();
    let (status, claims) = phone.refresh().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refresh without the main database: {claims}"
    );
    assert_eq!(claims["o"]["id"], first.as_str());
    assert_eq!(claims["o"]["rol"], "admin");
    let (status, client) = phone.call(Method::GET, "/v1/client", &[]).await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let shown = &client["response"]["sessions"][0];
    assert_eq!(shown["id"], phone.session.as_str());
    assert_eq!(shown["user"]["id"], member.as_str());
    let (status, body) = phone.switch(second).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "switch without the main database: {body}"
    );
    assert_eq!(
        body["response"]["last_active_organization_id"],
        second.as_str()
    );
    let (status, claims) = phone.refresh().await;
    assert_eq!(status, StatusCode::OK, "{claims}");
    assert_eq!(claims["o"]["id"], second.as_str());
    assert_eq!(claims["o"]["rol"], "member");
    let (status, _, body, retry_after) = call(&http, Method::POST, sign_in, None, &form).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "sign-in fails cleanly: {body}"
    );
    assert_eq!(body["errors"][0]["code"], "service_unavailable", "{body}");
    assert!(body["errors"][0]["long_message"].is_string(), "{body}");
    let retry_after: u64 = retry_after
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after > 0);

    // The main database back, the session database stopped: the orgs area
    // commits, the change waits in the outbox and arrives once.
    main_db.start_primary();
    session_db.kill_primary();
    let path = format!("/v1/organizations/{second}/memberships/{member}");
    bapi(
        &http,
        &backend,
        Method::PATCH,
        &path,
        json!({"role": "org:admin"}),
    )
    .await;
    let (latest, waiting) = outbox_state(main_url, member, second);
    assert!(waiting >= 1, "the change waits in the outbox");
    session_db.start_primary();
    let claims = phone
        .poll(Duration::from_secs(90), |c| c["o"]["rol"] == "admin")
        .await;
    assert_eq!(claims["o"]["id"], second.as_str());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (now_latest, waiting) = outbox_state(main_url, member, second);
        assert_eq!(now_latest, latest, "no other change was made");
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} rows never marked delivered"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        applied_versions(session_url, member, second),
        vec![latest],
        "one row, at the change's version"
    );
}
