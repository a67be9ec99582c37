//! The `steward` binary as an operator uses it.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::postgres::cluster;
use crate::common::process::Serve;

const KEY: &str = "sk_test_clitestkeyclitestkeyclitestkey0123";
const ENCRYPTION_KEY: &str = crate::common::TEST_ENCRYPTION_KEY;

/// Runs `steward` in a working directory of its own, so the files a
/// command makes by default (the outage spool under `data/`) neither land
/// in the repository nor are shared by tests running at once.
fn steward(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    crate::common::steward_command()
        .current_dir(cwd.path())
        .args(args)
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
            ("STEWARD__INSTANCE__ENCRYPTION_KEY", ENCRYPTION_KEY),
            (
                "STEWARD__DATABASE__URL",
                "postgres://steward:hunter2@db.internal/steward",
            ),
            (
                "STEWARD__DATABASE__REPLICA_URLS",
                "postgres://r:pw1@a/x,postgres://r:pw2@b/x",
            ),
            // A secret in an area's own table.
            (
                "STEWARD__MODULES__OAUTH__CONNECTIONS__GITHUB__CLIENT_ID",
                "Iv1.cli",
            ),
            (
                "STEWARD__MODULES__OAUTH__CONNECTIONS__GITHUB__CLIENT_SECRET",
                "gh_secret_hunter3",
            ),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Iv1.cli") && !stdout.contains("hunter3"),
        "{stdout}"
    );
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("sk_test_****"), "{stdout}");
    assert!(stdout.contains("encryption_key = \"****\""), "{stdout}");
    assert!(!stdout.contains(ENCRYPTION_KEY), "{stdout}");
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
fn config_check_reads_the_areas_own_settings() {
    let out = steward(
        &["config", "check"],
        &[("STEWARD__MODULES__SAML__CLOCK_SKEW_SECONDS", "100000")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("clock_skew_seconds"),
        "{}",
        text(&out.stderr)
    );
    let out = steward(
        &["config", "check"],
        &[(
            "STEWARD__MODULES__OAUTH__CONNECTIONS__FACEBOOK__ENABLED",
            "true",
        )],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown provider"),
        "{}",
        text(&out.stderr)
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
        (
            "STEWARD__INSTANCE__ENCRYPTION_KEY",
            "c2hvcnQ=",
            "instance.encryption_key",
        ),
        // A production instance without an encryption key does not start.
        (
            "STEWARD__INSTANCE__ENVIRONMENT",
            "production",
            "instance.encryption_key",
        ),
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
    assert_eq!(text(&out.stdout).trim(), "18 migration(s) applied");
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

/// An area's own sealed secrets move too: the SAML SP key, made by a
/// running instance, is re-sealed, and opens under the new key only.
#[actix_web::test]
async fn rewrap_moves_the_saml_sp_key_too() {
    use crate::common::{Backend, TestApp, TEST_ENCRYPTION_KEY};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    {
        let app = TestApp::spawn_on(
            Backend::Sqlite,
            tempfile::tempdir().unwrap(),
            url.clone(),
            "",
        )
        .await;
        let (status, connection) = app
            .post(
                "/v1/saml_connections",
                serde_json::json!({"name": "Acme", "provider": "saml_okta", "domains": ["acme.test"]}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{connection}");
        let metadata = app
            .http
            .get(
                connection["sp_metadata_url"]
                    .as_str()
                    .unwrap()
                    .replace("http://127.0.0.1:0", &app.frontend_url),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            metadata.status(),
            reqwest::StatusCode::OK,
            "the SP key is made"
        );
    }
    let second = "c2Vjb25kLWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzISE=";
    let third = "dGhpcmQtZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhISE=";
    let rewrap = |configured: &str, new: &str| {
        steward(
            &["keys", "rewrap"],
            &[
                ("STEWARD__DATABASE__URL", url.as_str()),
                ("STEWARD__INSTANCE__ENCRYPTION_KEY", configured),
                ("STEWARD_NEW_ENCRYPTION_KEY", new),
            ],
        )
    };
    let moved = rewrap(TEST_ENCRYPTION_KEY, second);
    let err = text(&moved.stderr);
    assert!(moved.status.success(), "{err}");
    assert!(err.contains("and 1 other secret(s)"), "{err}");
    // Sealed under the second key now: the first no longer opens it…
    let stale = rewrap(TEST_ENCRYPTION_KEY, third);
    assert!(!stale.status.success());
    // …and the second does.
    let again = rewrap(second, third);
    let err = text(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("and 1 other secret(s)"), "{err}");
}

#[test]
fn rewrap_moves_every_secret_to_a_new_key_given_outside_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let first = "Zmlyc3QtZW5jcnlwdGlvbi1rZXktMzItYnl0ZXMhISE=";
    let second = "c2Vjb25kLWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzISE=";
    // A development instance on SQLite starts with the development key.
    let development = [("STEWARD__DATABASE__URL", url.as_str())];
    let rotated = steward(&["keys", "rotate"], &development);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));

    let missing = steward(&["keys", "rewrap"], &development);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("STEWARD_NEW_ENCRYPTION_KEY"));

    let to_first = steward(
        &["keys", "rewrap"],
        &[
            ("STEWARD__DATABASE__URL", url.as_str()),
            ("STEWARD_NEW_ENCRYPTION_KEY", first),
        ],
    );
    let (out, err) = (text(&to_first.stdout), text(&to_first.stderr));
    assert!(to_first.status.success(), "{err}");
    assert!(
        err.contains("2 signing key(s), 1 client-token key(s) and 0 other"),
        "{err}"
    );
    assert!(
        !out.contains(first) && !err.contains(first),
        "the key is never printed"
    );

    // The old key no longer opens the secrets: the process refuses to start.
    let stale = steward(&["keys", "rotate"], &development);
    assert!(!stale.status.success());
    let err = text(&stale.stderr);
    assert!(err.contains("sealed under another encryption key"), "{err}");
    assert!(err.contains("instance.encryption_key"), "{err}");

    let with_first = [
        ("STEWARD__DATABASE__URL", url.as_str()),
        ("STEWARD__INSTANCE__ENCRYPTION_KEY", first),
    ];
    let rotated = steward(&["keys", "rotate"], &with_first);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));

    // From a file, as a secret manager mounts it.
    let key_file = dir.path().join("new.key");
    std::fs::write(&key_file, format!("{second}\n")).unwrap();
    let to_second = steward(
        &[
            "keys",
            "rewrap",
            "--new-key-file",
            key_file.to_str().unwrap(),
        ],
        &with_first,
    );
    assert!(to_second.status.success(), "{}", text(&to_second.stderr));
    assert!(text(&to_second.stderr).contains("3 signing key(s)"));
    let first_file = dir.path().join("first.key");
    std::fs::write(&first_file, first).unwrap();
    let again = steward(
        &[
            "keys",
            "rewrap",
            "--new-key-file",
            key_file.to_str().unwrap(),
        ],
        &[
            ("STEWARD__DATABASE__URL", url.as_str()),
            (
                "STEWARD__INSTANCE__ENCRYPTION_KEY_FILE",
                first_file.to_str().unwrap(),
            ),
        ],
    );
    let err = text(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(
        err.contains("re-encrypted 0 signing key(s), 0 client-token key(s) and 0 other"),
        "a second run changes nothing: {err}"
    );
    let with_second = [
        ("STEWARD__DATABASE__URL", url.as_str()),
        (
            "STEWARD__INSTANCE__ENCRYPTION_KEY_FILE",
            key_file.to_str().unwrap(),
        ),
    ];
    let key = steward(&["keys", "create-secret"], &with_second);
    assert!(key.status.success(), "{}", text(&key.stderr));
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
    for (n, url) in [sqlite, postgres].into_iter().enumerate() {
        let spool = dir.path().join(format!("spool-{n}.db"));
        let mut serve = Serve::new(&url, KEY, &spool);
        serve.command.stderr(Stdio::null());
        let server = serve.start();
        let (status, content_type, body) = wait_for_users(&server.bapi);
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(content_type, "application/json");
        assert_eq!(body, "[]");
    }
}
