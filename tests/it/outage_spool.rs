//! The outage write spool, with real processes: a `--role session` Steward
//! process in front of a PostgreSQL primary and streaming replica. With the
//! primary down for over 30 s, touches and revocations are accepted into
//! the spool; revoked sessions get no token, also after the session process
//! is killed and restarted mid-outage; when the primary returns, every
//! spooled write is applied exactly once. PostgreSQL only (replicas).

use std::time::{Duration, Instant};

use crate::common::fapi::FapiClient;
use crate::common::postgres::PgPair;
use crate::common::process::{Serve, Server};
use crate::common::{metric_value, metrics, Backend, TestApp, PASSWORD, TEST_SECRET_KEY};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Sessions 0..3 are touched; 3, 4 and 5 are ended three different ways.
const SESSIONS: usize = 6;
const OUTAGE: Duration = Duration::from_secs(30);

/// A `steward serve --role session` process in front of `pair`, killed
/// on drop.
fn session_process(pair: &PgPair, spool: &std::path::Path) -> Server {
    let mut serve = Serve::new(&pair.primary_url, TEST_SECRET_KEY, spool);
    serve
        .command
        .args(["--role", "session"])
        .env("STEWARD__DATABASE__REPLICA_URLS", &pair.replica_url)
        .env("STEWARD__DATABASE__PRIMARY_TIMEOUT", "300ms")
        .env("STEWARD__DATABASE__BREAKER_COOLDOWN", "2s")
        .env("STEWARD__DATABASE__CONNECT_TIMEOUT", "1s")
        .env("STEWARD__SPOOL__REPLAY_INTERVAL", "300ms")
        .env("STEWARD__LOG__LEVEL", "error");
    serve.start()
}

/// A signed-in native app: its client token and session.
struct Device {
    token: String,
    session: String,
}

async fn fapi(
    http: &reqwest::Client,
    process: &Server,
    device: &Device,
    action: &str,
) -> (StatusCode, Value) {
    let response = http
        .post(format!(
            "{}/v1/client/sessions/{}/{action}?_is_native=true",
            process.fapi, device.session
        ))
        .header("authorization", &device.token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn revoke(http: &reqwest::Client, process: &Server, device: &Device) -> StatusCode {
    http.post(format!(
        "{}/v1/sessions/{}/revoke",
        process.bapi, device.session
    ))
    .bearer_auth(TEST_SECRET_KEY)
    .send()
    .await
    .unwrap()
    .status()
}

/// Token statuses of every device, in order.
async fn token_statuses(
    http: &reqwest::Client,
    process: &Server,
    devices: &[Device],
) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for device in devices {
        statuses.push(fapi(http, process, device, "tokens").await.0);
    }
    statuses
}

fn expected_tokens() -> Vec<StatusCode> {
    let mut expected = vec![StatusCode::OK; 3];
    expected.extend([StatusCode::UNAUTHORIZED; 3]);
    expected
}

/// (activity rows, event rows, statuses) of the devices' sessions.
fn applied(url: &str, devices: &[String]) -> (i64, i64, Vec<String>) {
    use steward::db::schema::{session_activity, session_events, sessions};
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    let activity = session_activity::table
        .filter(session_activity::session_id.eq_any(devices))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let events = session_events::table
        .filter(session_events::session_id.eq_any(devices))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let statuses = devices
        .iter()
        .map(|id| {
            sessions::table
                .find(id)
                .select(sessions::status)
                .first(&mut conn)
                .unwrap()
        })
        .collect();
    (activity, events, statuses)
}

async fn metric(http: &reqwest::Client, process: &Server, name: &str) -> f64 {
    let text = metrics(http, &process.bapi).await;
    metric_value(&text, name).unwrap_or_else(|| panic!("{name} is not in /metrics:\n{text}"))
}

#[actix_web::test]
async fn writes_during_an_outage_are_spooled_and_applied_exactly_once() {
    let pair = PgPair::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("session-spool.db");
    let app = TestApp::spawn_on(
        Backend::Postgres,
        tempfile::tempdir().unwrap(),
        pair.primary_url.clone(),
        "[security.argon2]\nmemory_kib = 1024\niterations = 1\n[session]\nmulti_session = true\n",
    )
    .await;
    let (status, _) = app
        .post(
            "/v1/users",
            json!({"email_address": ["spooled@example.com"], "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut devices = Vec::new();
    for _ in 0..SESSIONS {
        let mut phone = FapiClient::native(&app);
        let session = phone.sign_in("spooled@example.com", PASSWORD).await;
        devices.push(Device {
            token: phone.token.clone().unwrap(),
            session,
        });
    }
    let ids: Vec<String> = devices.iter().map(|d| d.session.clone()).collect();
    let replica = pair.replica_url.clone();
    let watched = ids.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while applied(&replica, &watched).2.iter().any(|s| s != "active") {
            assert!(Instant::now() < deadline, "the replica did not catch up");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();

    let http = reqwest::Client::new();
    let process = session_process(&pair, &spool);
    for device in &devices {
        assert_eq!(
            fapi(&http, &process, device, "tokens").await.0,
            StatusCode::OK
        );
    }

    pair.kill_primary();
    let down = Instant::now();
    let mut touches = 0;
    for device in &devices[..3] {
        for _ in 0..2 {
            let (status, body) = fapi(&http, &process, device, "touch").await;
            assert_eq!(status, StatusCode::OK, "touch during the outage: {body}");
            touches += 1;
        }
    }
    assert_eq!(revoke(&http, &process, &devices[3]).await, StatusCode::OK);
    let (status, ended) = fapi(&http, &process, &devices[4], "end").await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["response"]["status"], "ended");
    let (status, removed) = fapi(&http, &process, &devices[5], "remove").await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    let revocations = 3;
    assert_eq!(
        token_statuses(&http, &process, &devices).await,
        expected_tokens()
    );
    assert!(metric(&http, &process, "steward_spool_depth").await >= (touches + revocations) as f64);

    // Killed mid-outage and started again (from the replica): the spooled
    // revocations still hold.
    process.kill();
    let process = session_process(&pair, &spool);
    assert_eq!(
        token_statuses(&http, &process, &devices).await,
        expected_tokens()
    );
    for device in &devices[..3] {
        let (status, body) = fapi(&http, &process, device, "touch").await;
        assert_eq!(status, StatusCode::OK, "touch after the restart: {body}");
        touches += 1;
    }
    let (status, ready) = {
        let response = http
            .get(format!("{}/readyz", process.bapi))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "degraded");
    assert!(ready["spool"]["depth"].as_i64().unwrap() >= touches + revocations);
    while down.elapsed() < OUTAGE {
        assert_eq!(
            token_statuses(&http, &process, &devices).await,
            expected_tokens()
        );
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    }

    pair.start_primary();
    let primary = pair.primary_url.clone();
    let watched = ids.clone();
    let (activity, events, statuses) = actix_web::rt::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = applied(&primary, &watched);
            if now.0 >= touches && now.1 >= revocations {
                // Give a wrongly repeated replay time to show.
                std::thread::sleep(Duration::from_secs(2));
                return applied(&primary, &watched);
            }
            assert!(
                Instant::now() < deadline,
                "the spool was not replayed: {now:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    eprintln!(
        "outage: {touches} touches and {revocations} endings spooled; primary down {:?}",
        OUTAGE
    );
    assert_eq!(activity, touches, "every touch applied exactly once");
    assert_eq!(events, revocations, "every ending applied exactly once");
    assert_eq!(
        statuses,
        ["active", "active", "active", "revoked", "ended", "removed"]
    );
    assert_eq!(metric(&http, &process, "steward_spool_depth").await, 0.0);
    assert_eq!(
        token_statuses(&http, &process, &devices).await,
        expected_tokens()
    );
}
