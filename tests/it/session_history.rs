//! The session API's append-only history on SQLite and PostgreSQL: touches,
//! token issuances and endings are inserted (each once, whatever replays
//! it), compacted into the session row by a job, and trimmed by age.

use std::time::{Duration, Instant};

use crate::common::fapi::FapiClient;
use crate::common::{user, Backend, TestApp, PASSWORD};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use steward::db::schema::{session_activity, session_events, session_token_issuances, sessions};
use steward::db::DbConnection;
use steward::modules::session::jobs::{self, Cutoffs};
use steward::modules::session::writes::{apply, SessionWrite};
use steward::modules::Module;

on_every_backend!(
    touches_are_appended_then_compacted,
    issuances_and_endings_are_recorded_once,
    old_rows_are_trimmed,
    recent_activity_outlives_a_stale_abandon_at,
    a_worker_process_runs_the_jobs,
);

const CHEAP_HASH: &str = "[security.argon2]\nmemory_kib = 1024\niterations = 1\n\
                          [retention]\ncompaction_interval = \"1h\"\n";

/// A signed-in native device; returns its client and session id.
async fn signed_in<'a>(app: &'a TestApp, email: &str) -> (FapiClient<'a>, String) {
    user(app, email).await;
    let mut phone = FapiClient::native(app);
    let session = phone.sign_in(email, PASSWORD).await;
    (phone, session)
}

/// Runs `work` on a connection to the session module's database.
async fn with_db<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
) -> T {
    let state = app.state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.for_module(Module::Session).get_blocking().unwrap();
        work(&mut conn)
    })
    .await
    .unwrap()
}

fn count_for(conn: &mut DbConnection, table: &str, session: &str) -> i64 {
    match table {
        "activity" => session_activity::table
            .filter(session_activity::session_id.eq(session))
            .count()
            .get_result(conn),
        "issuances" => session_token_issuances::table
            .filter(session_token_issuances::session_id.eq(session))
            .count()
            .get_result(conn),
        _ => session_events::table
            .filter(session_events::session_id.eq(session))
            .count()
            .get_result(conn),
    }
    .unwrap()
}

async fn touches_are_appended_then_compacted(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHEAP_HASH).await;
    let (mut phone, session) = signed_in(&app, "touch@example.com").await;
    let (_, before) = app.get(&format!("/v1/sessions/{session}")).await;
    for _ in 0..2 {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        let (status, body) = phone
            .post(&format!("/v1/client/sessions/{session}/touch"), &[])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["response"]["last_active_at"].as_i64() > before["last_active_at"].as_i64());
    }
    let id = session.clone();
    let (rows, row_last_active) = with_db(&app, move |conn| {
        let row: i64 = sessions::table
            .find(&id)
            .select(sessions::last_active_at)
            .first(conn)
            .unwrap();
        (count_for(conn, "activity", &id), row)
    })
    .await;
    assert_eq!(rows, 2, "each touch is one inserted row");
    assert_eq!(
        Some(row_last_active),
        before["last_active_at"].as_i64(),
        "the session row is not rewritten by a touch"
    );

    let inactivity = 7 * 24 * 3600 * 1000;
    let id = session.clone();
    let (updated, latest) = with_db(&app, move |conn| {
        let updated = jobs::compact(conn, 0, inactivity).unwrap();
        let latest = steward_latest(conn, &id);
        (updated, latest)
    })
    .await;
    assert_eq!(updated, 1);
    let (_, after) = app.get(&format!("/v1/sessions/{session}")).await;
    assert_eq!(after["last_active_at"].as_i64(), Some(latest));
    assert_eq!(
        after["abandon_at"].as_i64(),
        Some((latest + inactivity).min(after["expire_at"].as_i64().unwrap()))
    );
    // Compacting again changes nothing.
    assert_eq!(
        with_db(&app, move |conn| jobs::compact(conn, 0, inactivity)
            .unwrap())
        .await,
        0
    );
}

fn steward_latest(conn: &mut DbConnection, session: &str) -> i64 {
    session_activity::table
        .filter(session_activity::session_id.eq(session))
        .select(diesel::dsl::max(session_activity::occurred_at))
        .first::<Option<i64>>(conn)
        .unwrap()
        .unwrap()
}

async fn issuances_and_endings_are_recorded_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHEAP_HASH).await;
    let (mut phone, session) = signed_in(&app, "issued@example.com").await;
    for _ in 0..3 {
        let (status, body) = phone.token(&session).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Issuance records are written in batches in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let id = session.clone();
        let issued = with_db(&app, move |conn| count_for(conn, "issuances", &id)).await;
        if issued >= 1 {
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            let id = session.clone();
            let issued = with_db(&app, move |conn| count_for(conn, "issuances", &id)).await;
            assert_eq!(issued, 1, "reused tokens are not new issuances");
            break;
        }
        assert!(Instant::now() < deadline, "no issuance record was written");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, body) = phone
        .post(&format!("/v1/client/sessions/{session}/end"), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = session.clone();
    let (event_id, events) = with_db(&app, move |conn| {
        let event_id: String = session_events::table
            .filter(session_events::session_id.eq(&id))
            .select(session_events::id)
            .first(conn)
            .unwrap();
        (event_id, count_for(conn, "events", &id))
    })
    .await;
    assert_eq!(events, 1);
    // The same write replayed (from the spool, after a crash) is recognised.
    let replay = SessionWrite::Finished {
        id: event_id,
        session_id: session.clone(),
        status: "revoked".into(),
        at: 1,
    };
    let id = session.clone();
    let (applied, events, status) = with_db(&app, move |conn| {
        let applied = apply(conn, &replay).unwrap();
        let status: String = sessions::table
            .find(&id)
            .select(sessions::status)
            .first(conn)
            .unwrap();
        (applied, count_for(conn, "events", &id), status)
    })
    .await;
    assert!(!applied, "a replayed write is not applied twice");
    assert_eq!((events, status.as_str()), (1, "ended"));
    // Ending an ended session again records nothing.
    let (status, _) = app
        .post(&format!("/v1/sessions/{session}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = session.clone();
    assert_eq!(
        with_db(&app, move |conn| count_for(conn, "events", &id)).await,
        1
    );
}

async fn old_rows_are_trimmed(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHEAP_HASH).await;
    let (_, session) = signed_in(&app, "trim@example.com").await;
    let now = steward::time::now_ms();
    let writes: Vec<SessionWrite> = [(1_000, "old"), (now, "new")]
        .into_iter()
        .flat_map(|(at, tag)| {
            [
                SessionWrite::Activity {
                    id: format!("sact_{tag}"),
                    session_id: session.clone(),
                    at,
                },
                SessionWrite::TokenIssued {
                    id: format!("jti_{tag}"),
                    session_id: session.clone(),
                    kid: "ins_test".into(),
                    issued_at: at,
                    expires_at: at + 60_000,
                },
            ]
        })
        .collect();
    let id = session.clone();
    let (deleted, activity, issuances) = with_db(&app, move |conn| {
        for write in &writes {
            assert!(apply(conn, write).unwrap());
        }
        let cutoff = now - 3_600_000;
        let cutoffs = Cutoffs {
            session_activity: cutoff,
            token_issuances: cutoff,
            session_events: cutoff,
        };
        let deleted = jobs::trim_session_tables(conn, &cutoffs).unwrap();
        (
            deleted,
            count_for(conn, "activity", &id),
            count_for(conn, "issuances", &id),
        )
    })
    .await;
    assert_eq!(deleted, 2, "the old activity and issuance rows");
    assert_eq!((activity, issuances), (1, 1), "recent rows stay");
}

async fn recent_activity_outlives_a_stale_abandon_at(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHEAP_HASH).await;
    let (mut phone, session) = signed_in(&app, "stale@example.com").await;
    // The row says abandoned (as it would before compaction caught up)…
    let id = session.clone();
    with_db(&app, move |conn| {
        diesel::update(sessions::table.find(&id))
            .set(sessions::abandon_at.eq(1_i64))
            .execute(conn)
            .unwrap();
    })
    .await;
    let (status, _) = phone.token(&session).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no activity: abandoned");
    // …but a touch recorded since keeps the session alive.
    let recent = SessionWrite::Activity {
        id: "sact_recent".into(),
        session_id: session.clone(),
        at: steward::time::now_ms(),
    };
    with_db(&app, move |conn| apply(conn, &recent).unwrap()).await;
    let (status, body) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_worker_process_runs_the_jobs(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &format!("{CHEAP_HASH}jobs_in_session_processes = false\n"),
    )
    .await;
    let worker = TestApp::spawn_on(
        backend,
        tempfile::tempdir().unwrap(),
        app.database_url.clone(),
        "role = \"worker\"\n[retention]\ncompaction_interval = \"100ms\"\n",
    )
    .await;
    let (status, _) = worker.get("/v1/users").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a worker serves no API");

    let (mut phone, session) = signed_in(&app, "worker@example.com").await;
    let (status, touched) = phone
        .post(&format!("/v1/client/sessions/{session}/touch"), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{touched}");
    let touched_at = touched["response"]["last_active_at"].as_i64();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, row) = app.get(&format!("/v1/sessions/{session}")).await;
        if row["last_active_at"].as_i64() == touched_at {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not compact: {row}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
