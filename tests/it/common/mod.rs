//! Integration test harness: spawns Steward in-process on port 0 with a
//! fresh database per test, on SQLite or on PostgreSQL.

pub mod billing;
pub mod browser;
pub mod commit_cut;
pub mod fapi;
pub mod oidc;
pub mod postgres;
pub mod process;
pub mod saml_idp;
pub mod saml_responses;
pub mod smtp;
pub mod stripe;

use std::io::Write;
use std::sync::Arc;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use steward::app::{self, Application};
use steward::config::{LoadOptions, Settings};
use steward::state::AppState;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL through PgBouncer in transaction mode.
    PgBouncer,
}

impl Backend {
    /// Whether the database is PostgreSQL (directly or through PgBouncer).
    pub fn is_postgres(self) -> bool {
        self != Backend::Sqlite
    }
}

/// A running Steward with its own database.
pub struct TestApp {
    pub frontend_url: String,
    pub backend_url: String,
    pub database_url: String,
    /// The operator-configured secret key the harness sets.
    pub secret_key: String,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A database name no other test uses.
fn unique_name() -> String {
    format!(
        "t_{}",
        steward::crypto::ids::new_id("db")
            .trim_start_matches("db_")
            .to_lowercase()
    )
}

/// A fresh database URL for `backend` inside `dir`.
pub fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/steward.db", dir.display()),
        Backend::Postgres => postgres::cluster().create_database(&unique_name()),
        Backend::PgBouncer => postgres::bouncer().create_database(&unique_name()),
    }
}

/// Settings for a test: loopback port 0, a small pool, a known secret key,
/// plus `extra_toml` layered on top.
pub fn test_settings(
    database_url: &str,
    dir: &std::path::Path,
    extra_toml: &str,
    secret_key: &str,
) -> Settings {
    let file = dir.join("extra.toml");
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(extra_toml.as_bytes()))
        .expect("write test config");
    Settings::load(&LoadOptions {
        file: Some(file),
        environment: false,
        overrides: vec![
            ("database.url".into(), database_url.into()),
            ("database.pool_size".into(), "4".into()),
            ("server.frontend_addr".into(), "127.0.0.1:0".into()),
            ("server.backend_addr".into(), "127.0.0.1:0".into()),
            ("server.workers".into(), "1".into()),
            ("instance.secret_key".into(), secret_key.into()),
            ("instance.encryption_key".into(), TEST_ENCRYPTION_KEY.into()),
            ("log.level".into(), "warn".into()),
            (
                "spool.path".into(),
                dir.join("spool.db").to_string_lossy().into_owned(),
            ),
        ],
    })
    .expect("test settings are valid")
}

pub const TEST_SECRET_KEY: &str = "sk_test_stewardtestsecretkey0123456789abcdef";

/// The encryption key of test instances (32 bytes, base64): PostgreSQL
/// instances need one, and SQLite ones then seal the same way.
pub const TEST_ENCRYPTION_KEY: &str = "c3Rld2FyZC10ZXN0LWVuY3J5cHRpb24ta2V5LTAwMzI=";

/// The password of the users [`user`] creates.
pub const PASSWORD: &str = "a long password";

/// Creates a user who can sign in with [`PASSWORD`] through the Backend
/// API; returns its id.
pub async fn user(app: &TestApp, email: &str) -> String {
    let (status, user) = app
        .post(
            "/v1/users",
            serde_json::json!({"email_address": [email], "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["id"].as_str().expect("user id").to_owned()
}

/// The claims of a session token (its signature is checked elsewhere).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON claims")
}

/// The Prometheus text a Backend API at `bapi_url` serves on `/metrics`.
pub async fn metrics(http: &reqwest::Client, bapi_url: &str) -> String {
    let response = http
        .get(format!("{bapi_url}/metrics"))
        .send()
        .await
        .expect("metrics request sent");
    assert_eq!(response.status(), StatusCode::OK, "/metrics");
    response.text().await.expect("metrics body")
}

/// The value of the series `name` (with its labels, if it has any) in
/// Prometheus text.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

impl TestApp {
    /// Steward with default settings on a fresh database.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, "").await
    }

    /// Steward with `extra_toml` layered over the defaults.
    pub async fn spawn_with(backend: Backend, extra_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database(backend, dir.path());
        Self::spawn_on(backend, dir, database_url, extra_toml).await
    }

    /// Steward with `module`'s tables on a database of their own (fresh,
    /// like the primary), and `extra_toml` layered over the defaults.
    pub async fn spawn_with_module_database(
        backend: Backend,
        module: &str,
        extra_toml: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let primary = fresh_database(backend, dir.path());
        let own = if backend.is_postgres() {
            fresh_database(backend, dir.path())
        } else {
            format!("sqlite://{}/{module}.db", dir.path().display())
        };
        let config = format!("{extra_toml}[database.modules.{module}]\nurl = \"{own}\"\n");
        Self::spawn_on(backend, dir, primary, &config).await
    }

    /// Steward whose Frontend API listens on `frontend_port`, which is
    /// also its public URL: for tests where a third party (an IdP, a
    /// browser) is sent to the URLs Steward gives out.
    pub async fn spawn_public(backend: Backend, frontend_port: u16, extra_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database(backend, dir.path());
        let mut settings = test_settings(&database_url, dir.path(), extra_toml, TEST_SECRET_KEY);
        settings.server.frontend_addr = ([127, 0, 0, 1], frontend_port).into();
        settings.server.public_url = format!("http://127.0.0.1:{frontend_port}");
        Self::start(backend, dir, database_url, settings).await
    }

    /// Steward on an existing database (for restart tests).
    pub async fn spawn_on(
        backend: Backend,
        dir: tempfile::TempDir,
        database_url: String,
        extra_toml: &str,
    ) -> Self {
        let settings = test_settings(&database_url, dir.path(), extra_toml, TEST_SECRET_KEY);
        Self::start(backend, dir, database_url, settings).await
    }

    async fn start(
        backend: Backend,
        dir: tempfile::TempDir,
        database_url: String,
        mut settings: Settings,
    ) -> Self {
        steward::telemetry::init_metrics();
        if backend == Backend::PgBouncer {
            settings.database.pooler = steward::config::Pooler::Transaction;
        }
        let prepared = actix_web::rt::task::spawn_blocking(move || app::prepare(settings))
            .await
            .expect("prepare task")
            .expect("prepare");
        let application = Application::start(&prepared).expect("bind");
        let frontend_url = format!("http://{}", application.frontend_addr());
        let backend_url = format!("http://{}", application.backend_addr());
        actix_web::rt::spawn(application.run());
        Self {
            frontend_url,
            backend_url,
            database_url,
            secret_key: TEST_SECRET_KEY.to_owned(),
            state: prepared.state,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// A Backend API request with the secret key.
    pub fn bapi(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.backend_url))
            .bearer_auth(&self.secret_key)
    }

    /// Sends and returns the status and JSON body, checking the exact
    /// `Content-Type` Clerk's SDK requires.
    pub async fn send(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body");
        assert_eq!(
            content_type, "application/json",
            "content type of {status} {text}"
        );
        let body =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.bapi(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.bapi(Method::POST, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.bapi(Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.bapi(Method::DELETE, path)).await
    }

    /// This app's `/metrics` (Backend API listener).
    pub async fn metrics(&self) -> String {
        metrics(&self.http, &self.backend_url).await
    }

    /// Rows per table in every database the app writes to: taken before
    /// and after a batch of requests that must all be refused, it shows
    /// that none of them wrote anything ([`TestApp::assert_rows_unchanged`]).
    pub async fn row_counts(&self) -> RowCounts {
        let state = self.state.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut counts = std::collections::BTreeMap::new();
            for pool in state.db.writable_pools() {
                let mut conn = pool.get_blocking().expect("connection");
                for table in table_names(&mut conn) {
                    let count = count_rows(&mut conn, &table);
                    counts.insert(format!("{}.{table}", pool.label()), count);
                }
            }
            RowCounts(counts)
        })
        .await
        .expect("count task")
    }

    /// [`TestApp::row_counts`] once writes made in the background have
    /// landed: the start-up outbox backfills are written (one per pushing
    /// area this process delivers for), and two readings in a row agree
    /// (token issuance records are inserted in batches, outbox rows
    /// delivered a moment after their change).
    pub async fn settled_row_counts(&self) -> RowCounts {
        let scope = self.state.settings.role_scope().expect("role");
        let backfills = steward::modules::REGISTRY
            .iter()
            .filter(|area| self.state.settings.modules.is_enabled(area.id))
            .filter(|area| scope.worker || scope.serves(area.id))
            .map(|area| area.pushes.len() as i64)
            .sum::<i64>();
        let backfilled = |counts: &RowCounts| {
            counts
                .0
                .iter()
                .filter(|(table, _)| table.ends_with(".outbox_backfills"))
                .map(|(_, rows)| rows)
                .sum::<i64>()
                >= backfills
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut last = self.row_counts().await;
        loop {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = self.row_counts().await;
            if now == last && backfilled(&now) {
                return now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "row counts never settled"
            );
            last = now;
        }
    }

    /// Asserts that no table gained or lost a row since `before`.
    pub async fn assert_rows_unchanged(&self, before: &RowCounts, what: &str) {
        let after = self.row_counts().await;
        let changed: Vec<String> = before
            .0
            .iter()
            .filter(|(table, count)| after.0.get(*table) != Some(count))
            .map(|(table, count)| format!("{table}: {count} -> {:?}", after.0.get(table)))
            .collect();
        assert!(changed.is_empty(), "{what} wrote rows: {changed:?}");
    }

    /// How many users exist, by the count endpoint.
    pub async fn user_count(&self) -> i64 {
        let (status, body) = self.get("/v1/users/count").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["total_count"].as_i64().expect("total_count")
    }
}

/// Rows per `pool.table`, from [`TestApp::row_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowCounts(std::collections::BTreeMap<String, i64>);

impl RowCounts {
    /// Rows of `table` in the database labelled `pool` (`primary`, or a
    /// module's name); 0 where that database has no such table.
    pub fn rows(&self, pool: &str, table: &str) -> i64 {
        self.0.get(&format!("{pool}.{table}")).copied().unwrap_or(0)
    }

    /// The tables of the database labelled `pool`.
    pub fn tables(&self, pool: &str) -> Vec<&str> {
        let prefix = format!("{pool}.");
        self.0
            .keys()
            .filter_map(|key| key.strip_prefix(prefix.as_str()))
            .collect()
    }
}

fn count_rows(conn: &mut steward::db::DbConnection, table: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS rows FROM \"{table}\""))
        .get_result::<Count>(conn)
        .expect("count rows")
        .rows
}

/// The application's tables in the database behind `conn` (not the
/// migrations' own bookkeeping).
fn table_names(conn: &mut steward::db::DbConnection) -> Vec<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let query = match conn {
        steward::db::DbConnection::Pg(_) => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        }
        steward::db::DbConnection::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
    };
    diesel::sql_query(query)
        .load::<Table>(conn)
        .expect("list tables")
        .into_iter()
        .map(|t| t.name)
        .filter(|name| name != "__diesel_schema_migrations")
        .collect()
}

/// Asserts a Clerk-style error with `status` and `code` and returns it.
#[track_caller]
pub fn assert_error(response: &(StatusCode, Value), status: StatusCode, code: &str) -> Value {
    let (actual, body) = response;
    assert_eq!(*actual, status, "status for {body}");
    assert_eq!(body["errors"][0]["code"], code, "code in {body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    assert!(body["errors"][0]["long_message"].is_string(), "{body}");
    assert!(body["clerk_trace_id"].is_string(), "{body}");
    body["errors"][0].clone()
}

/// A command that runs the `steward` binary with none of this process's
/// `STEWARD_CONFIG` / `STEWARD__*` variables: a child sees only the
/// settings its test gives it, whatever the developer's shell exports.
pub fn steward_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_steward"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STEWARD") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs each listed async test fn (taking a [`Backend`]) on SQLite, on
/// PostgreSQL, and on PostgreSQL through PgBouncer in transaction mode, as
/// `sqlite::name`, `postgres::name` and `pgbouncer::name`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
        mod pgbouncer {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::common::Backend::PgBouncer).await
                }
            )*
        }
    };
}
