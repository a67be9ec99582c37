//! Headless Chromium driven over WebDriver, for the browser tests.
//!
//! One chromedriver per run, started on first use on a free loopback port
//! (Debian's `chromium` and `chromium-driver`, installed by `make
//! test-deps`; a browser is never downloaded at test time), under the same
//! watchdog as the SAML IdP: once the test process is gone the watchdog
//! stops chromedriver and the browsers it started. Missing packages fail
//! the test and say how to install them; it never skips.
//!
//! Each [`new_browser`] is a new Chromium with a fresh profile (its own
//! cookies), so parallel tests do not share sessions. Close it with
//! [`Browser::close`]; if a test panics first, dropping the [`Browser`]
//! ends the WebDriver session (which quits that Chromium) and deletes the
//! profile.

// A harness: not every test uses every helper.
#![allow(dead_code)]

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use super::saml_idp::{http_request, spawn_with_watchdog};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to report itself ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The running chromedriver.
pub struct ChromeDriver {
    /// `http://127.0.0.1:PORT`, the WebDriver endpoint.
    pub url: String,
    port: u16,
    /// Where the browsers' profiles go; removed by the watchdog after the
    /// run (each profile is removed when its browser is dropped).
    dir: PathBuf,
    /// Kept so the child is not reaped early; the watchdog stops it.
    _server: Mutex<Child>,
}

static CHROMEDRIVER_SERVER: OnceLock<ChromeDriver> = OnceLock::new();

/// The chromedriver of this run, started on first use.
pub fn chromedriver() -> &'static ChromeDriver {
    CHROMEDRIVER_SERVER.get_or_init(ChromeDriver::start)
}

impl ChromeDriver {
    fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: run make test-deps (it installs {package} for the browser tests)"
            );
        }
        let port = crate::common::postgres::free_port();
        let dir = tempfile::Builder::new()
            .prefix("steward-chromedriver-")
            .tempdir()
            .expect("chromedriver temp dir")
            .keep();
        let log_path = dir.join("chromedriver.log");
        let mut driver = Command::new(CHROMEDRIVER);
        // chromedriver only accepts connections from loopback by default.
        driver.arg(format!("--port={port}")).current_dir(&dir);
        let log = std::fs::File::create(&log_path).expect("create the chromedriver log");
        let mut server = spawn_with_watchdog(&driver, Some(dir.as_path()), log)
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok((200, body)) = http_request(port, "GET", "/status", None) {
                let status: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if status["value"]["ready"].as_bool() == Some(true) {
                    break;
                }
            }
            if let Ok(Some(status)) = server.try_wait() {
                panic!(
                    "chromedriver exited during start-up ({status}); see {}",
                    log_path.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready on port {port} within {STARTUP_TIMEOUT:?}; see {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            _server: Mutex::new(server),
        }
    }
}

/// A headless Chromium with a profile of its own; derefs to the
/// [`fantoccini::Client`] driving it.
pub struct Browser {
    /// `None` once closed.
    client: Option<Client>,
    session_id: Option<String>,
    driver_port: u16,
    /// Dropped after the session ends (fields drop after `Drop::drop`).
    _profile: tempfile::TempDir,
}

/// Opens a new headless Chromium session with a fresh profile.
pub async fn new_browser() -> Browser {
    let driver = chromedriver();
    let profile = tempfile::Builder::new()
        .prefix("profile-")
        .tempdir_in(&driver.dir)
        .expect("browser profile dir");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                // Chromium refuses to run as root with its sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("open a Chromium session on {}: {e}", driver.url));
    let session_id = client.session_id().await.expect("WebDriver session id");
    Browser {
        client: Some(client),
        session_id,
        driver_port: driver.port,
        _profile: profile,
    }
}

impl Browser {
    /// The WebDriver client (also reachable through `Deref`).
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    /// Ends the session: Chromium quits, then the profile is deleted.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.expect("close the browser session");
        }
        self.session_id = None;
    }

    /// Waits up to `timeout` for the page's title to be `title`; panics
    /// with the URL and title seen last.
    pub async fn wait_for_title(&self, title: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.client().title().await.unwrap_or_default();
            if seen == title {
                return;
            }
            if Instant::now() >= deadline {
                let url = self
                    .client()
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                panic!("title {title:?} not shown within {timeout:?}; at {url} titled {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `timeout` until the current URL starts with `prefix`;
    /// returns it.
    pub async fn wait_for_url(&self, prefix: &str, timeout: Duration) -> url::Url {
        let deadline = Instant::now() + timeout;
        loop {
            let current = self.client().current_url().await;
            if let Ok(url) = &current {
                if url.as_str().starts_with(prefix) {
                    return url.clone();
                }
            }
            if Instant::now() >= deadline {
                panic!("not at {prefix}… within {timeout:?}; at {current:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Not closed (a test panicked, or forgot): end the session with a
        // blocking request, as the runtime may be gone before fantoccini's
        // own clean-up runs. Chromium quits before the profile is deleted.
        if self.client.is_some() {
            if let Some(id) = self.session_id.take() {
                let _ = http_request(self.driver_port, "DELETE", &format!("/session/{id}"), None);
            }
        }
    }
}
