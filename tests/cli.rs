//! The `steward` binary as an operator uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::postgres::{cluster, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_steward");
const KEY: &str = "sk_test_clitestkeyclitestkeyclitestkey0123";

fn steward(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("STEWARD_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("steward runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_the_crate_version() {
    let out = steward(&["version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("steward {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_check_masks_secrets() {
    let out = steward(
        &["config", "check"],
        &[
            ("STEWARD__INSTANCE__SECRET_KEY", KEY),
            (
                "STEWARD__DATABASE__URL",
                "postgres://steward:hunter2@db.internal/steward",
            ),
            (
                "STEWARD__DATABASE__REPLICA_URLS",
                "postgres://r:pw1@a/x,postgres://r:pw2@b/x",
            ),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("sk_test_****"), "{stdout}");
    assert!(!stdout.contains("clitestkey"), "{stdout}");
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("pw1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("frontend_addr = \"127.0.0.1:8080\""),
        "{stdout}"
    );
}

#[test]
fn invalid_configuration_exits_2_with_one_line_naming_the_key() {
    for (key, value, name) in [
        ("STEWARD__DATABASE__POOL_SIZE", "many", "database.pool_size"),
        (
            "STEWARD__SERVER__BACKEND_ADDR",
            "localhost",
            "server.backend_addr",
        ),
        ("STEWARD__DATABASE__URL", "mysql://x/y", "database.url"),
        (
            "STEWARD__INSTANCE__SECRET_KEY",
            "pk_test_nope",
            "instance.secret_key",
        ),
        ("STEWARD__ROLE", "unknown", "role"),
    ] {
        let out = steward(&["config", "check"], &[(key, value)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{key}: {stderr}");
        assert!(stderr.contains(name), "{key}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let missing = steward(
        &["--config", "/nonexistent/steward.toml", "config", "check"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(2));
    let bad_role = steward(&["serve", "--role", "nothing"], &[]);
    assert_eq!(bad_role.status.code(), Some(2));
}

#[test]
fn migrate_then_create_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let env = [("STEWARD__DATABASE__URL", url.as_str())];
    let out = steward(&["migrate"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "8 migration(s) applied");
    let again = steward(&["migrate"], &env);
    assert_eq!(text(&again.stdout).trim(), "0 migration(s) applied");
    let rotated = steward(&["keys", "rotate"], &env);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(text(&rotated.stdout).trim().starts_with("ins_"));
    let key = steward(&["keys", "create-secret"], &env);
    assert!(key.status.success(), "{}", text(&key.stderr));
    let key = text(&key.stdout);
    assert!(
        key.trim().starts_with("sk_test_") && key.trim().len() == 48,
        "{key}"
    );
}

/// A `steward serve` child process, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(database_url: &str) -> (Server, String) {
    let (fapi, bapi) = (free_port(), free_port());
    let child = Command::new(BIN)
        .arg("serve")
        .env_remove("STEWARD_CONFIG")
        .env("STEWARD__DATABASE__URL", database_url)
        .env(
            "STEWARD__SERVER__FRONTEND_ADDR",
            format!("127.0.0.1:{fapi}"),
        )
        .env("STEWARD__SERVER__BACKEND_ADDR", format!("127.0.0.1:{bapi}"))
        .env("STEWARD__INSTANCE__SECRET_KEY", KEY)
        .env("STEWARD__SERVER__WORKERS", "1")
        .env(
            "STEWARD__SPOOL__PATH",
            std::env::temp_dir().join(format!("steward-cli-spool-{fapi}.db")),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("steward serve starts");
    (Server(child), format!("http://127.0.0.1:{bapi}"))
}

mod raw_http {
    //! A tiny blocking GET for the binary tests (no async runtime needed).
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// GET /v1/users with a bearer key: status, content type, body.
    pub fn blocking_get(base: &str, key: &str) -> Option<(u16, String, String)> {
        let host = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).ok()?;
        write!(
            stream,
            "GET /v1/users HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let content_type = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap_or_default()
            .to_owned();
        Some((status, content_type, body.to_owned()))
    }
}

fn wait_for_users(base: &str) -> (u16, String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(response) = raw_http::blocking_get(base, KEY) {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "steward serve did not answer in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_answers_the_users_api_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/nested/dir/steward.db", dir.path().display());
    let postgres = cluster().create_database("cli_serve");
    for url in [sqlite, postgres] {
        let (_server, base) = serve(&url);
        let (status, content_type, body) = wait_for_users(&base);
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(content_type, "application/json");
        assert_eq!(body, "[]");
    }
}
