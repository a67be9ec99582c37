//! A session API that stays up: with the primary killed, session tokens are
//! still minted from a streaming replica (real PostgreSQL primary and
//! replica, PostgreSQL only: SQLite has no replicas).

use std::time::{Duration, Instant};

use crate::common::commit_cut::{CommitCutProxy, Cut};
use crate::common::fapi::FapiClient;
use crate::common::postgres::PgPair;
use crate::common::{metric_value, Backend, TestApp};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

const SESSIONS: usize = 20;

#[actix_web::test]
async fn session_tokens_survive_a_dead_primary() {
    let pair = std::sync::Arc::new(PgPair::start());
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        // No token reuse: every refresh reads the session, so every one of
        // them goes through the failover.
        "[database]\nreplica_urls = [\"{}\"]\nprimary_timeout = \"300ms\"\nbreaker_cooldown = \"30s\"\n\
         [session]\ntoken_reuse_seconds = 0\n",
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

    // A stream of refreshes from 4 concurrent callers cycling over every
    // session; the primary is killed in the middle of it. No refresh may
    // fail, and no caller retries.
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let stop = AtomicBool::new(false);
    let served_after_kill = AtomicUsize::new(0);
    let killed_at: Mutex<Option<Instant>> = Mutex::new(None);
    let first_after_kill: Mutex<Option<Duration>> = Mutex::new(None);
    let caller = |offset: usize| {
        let (sessions, stop, refresh) = (&sessions, &stop, &refresh);
        let (served_after_kill, killed_at, first_after_kill) =
            (&served_after_kill, &killed_at, &first_after_kill);
        async move {
            let mut failures = Vec::new();
            let mut next = offset;
            while !stop.load(Ordering::SeqCst) {
                let session = sessions[next % SESSIONS].clone();
                next += 1;
                let sent_after_kill = killed_at.lock().unwrap().is_some();
                let (status, body) = refresh(session.clone()).await;
                if status != StatusCode::OK {
                    failures.push(format!("{session}: {status} {body}"));
                } else if sent_after_kill {
                    served_after_kill.fetch_add(1, Ordering::SeqCst);
                    let since = killed_at.lock().unwrap().unwrap().elapsed();
                    first_after_kill.lock().unwrap().get_or_insert(since);
                }
            }
            failures
        }
    };
    let kill = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        // pg_ctl blocks: off the runtime, so the stream keeps flowing.
        let primary = pair.clone();
        actix_web::rt::task::spawn_blocking(move || primary.kill_primary())
            .await
            .unwrap();
        *killed_at.lock().unwrap() = Some(Instant::now());
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::SeqCst);
    };
    let ((), failures) =
        futures_util::future::join(kill, futures_util::future::join_all((0..4).map(caller))).await;
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    assert!(failures.is_empty(), "refreshes failed: {failures:#?}");
    let served = served_after_kill.load(Ordering::SeqCst);
    assert!(
        served >= 2 * SESSIONS,
        "the stream went on after the kill ({served})"
    );
    eprintln!(
        "failover: first token {:?} after the primary was killed; {served} refreshes served after the kill",
        first_after_kill.lock().unwrap().unwrap(),
    );

    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["read_failover"]["breaker"], "open");
    let metrics = app.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "steward_db_failover_total{from=\"primary\",to=\"replica\"}"
        ),
        Some(1.0),
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

/// `pg_ctl restart -m fast` of the primary during a stream of sign-ins and
/// Backend API user writes: every request succeeds, and every write is
/// applied exactly once. Queries that lose their connection are retried
/// within `database.retry_budget`, and r2d2 replaces the connections the
/// restart closed. No client-side retry. A probe connecting to the primary
/// times the real downtime, and requests must have been in flight across it.
#[actix_web::test]
async fn a_primary_restart_is_invisible_to_sign_ins_and_user_writes() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const WORKERS: usize = 4;
    let pair = std::sync::Arc::new(PgPair::start());
    let dir = tempfile::tempdir().unwrap();
    // A cheap password hash keeps the stream dense around the restart.
    let config = "[database]\nretry_budget = \"15s\"\nconnect_timeout = \"10s\"\n\
                  [security.argon2]\nmemory_kib = 1024\niterations = 1\n";
    let app = TestApp::spawn_on(Backend::Postgres, dir, pair.primary_url.clone(), config).await;
    for worker in 0..WORKERS {
        let (status, body) = app
            .post(
                "/v1/users",
                json!({"email_address": [format!("stream{worker}@example.com")], "password": "a long password"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let stop = AtomicBool::new(false);
    let restarting = AtomicBool::new(false);
    let during_restart = AtomicUsize::new(0);
    let served = AtomicUsize::new(0);
    // When each round of requests started and ended, and what it wrote.
    let rounds = std::sync::Mutex::new(Vec::<(Instant, Instant)>::new());
    let created_emails = std::sync::Mutex::new(Vec::<String>::new());
    let sign_ins = AtomicUsize::new(0);
    let worker = |worker: usize| {
        let (app, stop, restarting, during_restart, served) =
            (&app, &stop, &restarting, &during_restart, &served);
        let (rounds, created_emails, sign_ins) = (&rounds, &created_emails, &sign_ins);
        async move {
            let mut failures = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                let round_started = Instant::now();
                let in_restart = restarting.load(Ordering::SeqCst);
                let email = format!("stream{worker}@example.com");
                let mut fapi = FapiClient::native(app);
                let sign_in = fapi
                    .post(
                        "/v1/client/sign_ins",
                        &[("identifier", &email), ("password", "a long password")],
                    )
                    .await;
                let new_email = format!("w{worker}r{round}@example.com");
                let created = app
                    .post(
                        "/v1/users",
                        json!({"email_address": [new_email], "password": "a long password"}),
                    )
                    .await;
                if created.0 == StatusCode::OK {
                    created_emails.lock().unwrap().push(new_email);
                }
                if sign_in.0 == StatusCode::OK {
                    sign_ins.fetch_add(1, Ordering::SeqCst);
                }
                let updated = match created.1["id"].as_str() {
                    Some(id) => {
                        app.patch(
                            &format!("/v1/users/{id}"),
                            json!({"first_name": "Restarted"}),
                        )
                        .await
                    }
                    None => created.clone(),
                };
                rounds.lock().unwrap().push((round_started, Instant::now()));
                for (what, (status, body)) in [
                    ("sign-in", sign_in),
                    ("create", created),
                    ("update", updated),
                ] {
                    served.fetch_add(1, Ordering::SeqCst);
                    if in_restart || restarting.load(Ordering::SeqCst) {
                        during_restart.fetch_add(1, Ordering::SeqCst);
                    }
                    if status != StatusCode::OK {
                        failures.push(format!(
                            "{what} (worker {worker}, round {round}): {status} {body}"
                        ));
                    }
                }
            }
            failures
        }
    };
    // The stream runs for a while first, so requests are in flight when
    // the primary goes down.
    let warmed_up = || {
        let rounds = rounds.lock().unwrap().len();
        rounds >= WORKERS * 2
    };
    let restart = async {
        while !warmed_up() {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        restarting.store(true, Ordering::SeqCst);
        let started = Instant::now();
        // pg_ctl and the probe block; run them off the runtime so the stream
        // keeps going.
        let probe_url = pair.primary_url.clone();
        let probe = std::thread::spawn(move || probe_downtime(&probe_url));
        let pair = pair.clone();
        actix_web::rt::task::spawn_blocking(move || pair.restart_primary())
            .await
            .unwrap();
        let took = started.elapsed();
        let downtime = probe.join().unwrap();
        // Keep the stream going until a few rounds have ended after the
        // primary came back.
        let after =
            |rounds: &[(Instant, Instant)]| rounds.iter().filter(|(s, _)| *s > downtime.1).count();
        while after(&rounds.lock().unwrap()) < WORKERS * 2 {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        restarting.store(false, Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        (took, downtime)
    };
    let ((took, (down_at, up_at)), failures) = futures_util::future::join(
        restart,
        futures_util::future::join_all((0..WORKERS).map(worker)),
    )
    .await;
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    eprintln!(
        "restart: pg_ctl restart took {took:?}; {} requests served, {} while restarting",
        served.load(Ordering::SeqCst),
        during_restart.load(Ordering::SeqCst)
    );
    assert!(
        failures.is_empty(),
        "failed during the restart: {failures:#?}"
    );
    assert!(
        during_restart.load(Ordering::SeqCst) > 0,
        "the stream ran through the restart"
    );
    // Rounds in flight while the primary refused connections: they were
    // served only because their queries waited and retried.
    let overlapping = rounds
        .lock()
        .unwrap()
        .iter()
        .filter(|(start, end)| *start < up_at && *end > down_at)
        .count();
    eprintln!(
        "restart: primary refused connections for {:?}; {overlapping} rounds overlapped it",
        up_at - down_at
    );
    assert!(overlapping > 0, "requests overlapped the real downtime");

    // Every write applied exactly once: one user per successful create, one
    // session per successful sign-in.
    let created = created_emails.lock().unwrap().clone();
    let url = pair.primary_url.clone();
    let signed_in = sign_ins.load(Ordering::SeqCst);
    let (users, sessions) = actix_web::rt::task::spawn_blocking(move || {
        use steward::db::schema::{email_addresses, sessions, users};
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        let users: i64 = email_addresses::table
            .filter(email_addresses::email_address.eq_any(&created))
            .count()
            .get_result(&mut conn)
            .unwrap();
        let stream_users: Vec<String> = users::table
            .inner_join(email_addresses::table.on(email_addresses::user_id.eq(users::id)))
            .filter(email_addresses::email_address.like("stream%"))
            .select(users::id)
            .load(&mut conn)
            .unwrap();
        let sessions: i64 = sessions::table
            .filter(sessions::user_id.eq_any(&stream_users))
            .count()
            .get_result(&mut conn)
            .unwrap();
        (users, sessions)
    })
    .await
    .unwrap();
    assert_eq!(
        users,
        created_emails.lock().unwrap().len() as i64,
        "one user per create"
    );
    assert_eq!(sessions, signed_in as i64, "one session per sign-in");
}

/// Polls the primary with fresh connections until it refuses one and then
/// accepts again: the instants it went down and came back.
fn probe_downtime(url: &str) -> (Instant, Instant) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let answers = || {
        diesel::PgConnection::establish(url)
            .and_then(|mut c| {
                diesel::sql_query("SELECT 1")
                    .execute(&mut c)
                    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
            })
            .is_ok()
    };
    while answers() {
        assert!(Instant::now() < deadline, "the primary never went down");
        std::thread::sleep(Duration::from_millis(5));
    }
    let down_at = Instant::now();
    while !answers() {
        assert!(Instant::now() < deadline, "the primary never came back");
        std::thread::sleep(Duration::from_millis(5));
    }
    (down_at, Instant::now())
}

/// A user create whose COMMIT answer is lost with its connection is applied
/// exactly once: when the server had committed, the retry finds the commit
/// receipt and answers with the committed user; when it had not, the work
/// runs again. Without receipts the first case answered with a conflict
/// (the retry ran into its own committed row).
#[actix_web::test]
async fn a_commit_lost_with_its_connection_is_applied_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let direct_url = crate::common::fresh_database(Backend::Postgres, dir.path());
    let port: u16 = direct_url
        .rsplit_once(':')
        .and_then(|(_, tail)| tail.split_once('/'))
        .and_then(|(port, _)| port.parse().ok())
        .unwrap();
    let proxy = CommitCutProxy::start(port);
    let config = "[security.argon2]\nmemory_kib = 1024\niterations = 1\n";
    let app = TestApp::spawn_on(Backend::Postgres, dir, proxy.url_for(&direct_url), config).await;
    for (cut, email) in [
        (Cut::AfterCommit, "after-commit@example.com"),
        (Cut::BeforeCommit, "before-commit@example.com"),
    ] {
        proxy.arm(cut, "users");
        let (status, body) = app
            .post(
                "/v1/users",
                json!({"email_address": [email], "password": "a long password"}),
            )
            .await;
        assert!(proxy.fired(), "{cut:?}: the connection was cut");
        assert_eq!(status, StatusCode::OK, "{cut:?}: {body}");
        assert_eq!(body["email_addresses"][0]["email_address"], email);
        let url = direct_url.clone();
        let rows: Vec<String> = actix_web::rt::task::spawn_blocking(move || {
            use steward::db::schema::email_addresses;
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            email_addresses::table
                .filter(email_addresses::email_address.eq(email))
                .select(email_addresses::user_id)
                .load(&mut conn)
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(rows, [body["id"].as_str().unwrap()], "{cut:?}: one user");
    }
}
