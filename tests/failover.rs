//! A session API that stays up: with the primary killed, session tokens are
//! still minted from a streaming replica (real PostgreSQL primary and
//! replica, PostgreSQL only: SQLite has no replicas).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::postgres::PgPair;
use common::{Backend, TestApp};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

const SESSIONS: usize = 20;

#[actix_web::test]
async fn session_tokens_survive_a_dead_primary() {
    let pair = PgPair::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[database]\nreplica_urls = [\"{}\"]\nprimary_timeout = \"300ms\"\nbreaker_cooldown = \"30s\"\n",
        pair.replica_url
    );
    let app = TestApp::spawn_on(Backend::Postgres, dir, pair.primary_url.clone(), &config).await;
    let (_, user) = app
        .post(
            "/v1/users",
            json!({"email_address": ["resilient@example.com"], "password": "a long password"}),
        )
        .await;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let (status, session) = app
            .post("/v1/sessions", json!({"user_id": user["id"]}))
            .await;
        assert_eq!(status, StatusCode::OK, "{session}");
        sessions.push(session["id"].as_str().unwrap().to_owned());
    }

    // Wait until the replica has every session.
    let replica_url = pair.replica_url.clone();
    actix_web::rt::task::spawn_blocking(move || {
        use steward::db::schema::sessions;
        let mut conn = diesel::PgConnection::establish(&replica_url).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let count: i64 = sessions::table.count().get_result(&mut conn).unwrap();
            if count >= SESSIONS as i64 {
                break;
            }
            assert!(Instant::now() < deadline, "the replica did not catch up");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();

    let refresh = |session: String| {
        let app = &app;
        async move {
            let (status, token) = app
                .post(&format!("/v1/sessions/{session}/tokens"), json!({}))
                .await;
            (status, token)
        }
    };
    for session in &sessions {
        assert_eq!(refresh(session.clone()).await.0, StatusCode::OK);
    }

    pair.kill_primary();
    let killed = Instant::now();
    let mut first_after_kill = None;
    // Two rounds of refreshes for every session: none may fail.
    for round in 0..2 {
        for session in &sessions {
            let (status, body) = refresh(session.clone()).await;
            assert_eq!(status, StatusCode::OK, "round {round}, {session}: {body}");
            first_after_kill.get_or_insert_with(|| killed.elapsed());
        }
    }
    eprintln!(
        "failover: first token {:?} after the primary was killed; {} refreshes served",
        first_after_kill.unwrap(),
        2 * SESSIONS
    );

    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["read_failover"]["breaker"], "open");
    let metrics = app
        .http
        .get(format!("{}/metrics", app.backend_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("steward_db_failover_total{from=\"primary\",to=\"replica\"} 1"),
        "one switch counted"
    );
    // Writes cannot go to a replica: they fail cleanly with 503.
    let (status, _) = app
        .post(
            "/v1/users",
            json!({"email_address": ["late@example.com"], "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
