//! localstripe, a Stripe-compatible server, for the payment tests.
//!
//! One server per run, started on first use like the PostgreSQL cluster:
//! PyPI's `localstripe` (pinned in the Makefile, installed by `make
//! test-deps` into `.tools/venv`) through `tests/peers/localstripe_server.py`,
//! which binds 127.0.0.1, keeps nothing on disk, adds the Stripe behaviours
//! localstripe lacks (idempotency keys, declines with a decline code) and
//! exits when this process does. Missing, it fails the test and says how
//! to install it; it never skips.
//!
//! The server is shared by every test of the run, so a test makes its own
//! customers and looks only at its own objects; webhook endpoints receive
//! every test's events, so a receiver picks the ones about its objects.
//! Nothing resets it: localstripe's `DELETE /_config/data` would delete
//! the objects of the tests running alongside, and a run starts with an
//! empty server anyway (the wrapper keeps nothing on disk).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use steward::modules::billing::stripe::{GatewayConfig, PaymentGateway, Secret};

/// Any `sk_test_…` key is accepted by localstripe.
pub const SECRET_KEY: &str = "sk_test_steward_harness";
/// What Stripe.js sends as `key` when it confirms an intent in a browser.
pub const PUBLISHABLE_KEY: &str = "pk_test_steward_harness";

/// How long localstripe may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The running server.
pub struct LocalStripe {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    port: u16,
    /// Kept so the child is not reaped early; it exits with this process.
    _server: Mutex<Child>,
}

static LOCALSTRIPE: OnceLock<LocalStripe> = OnceLock::new();

/// The localstripe of this run, started on first use.
pub fn localstripe() -> &'static LocalStripe {
    LOCALSTRIPE.get_or_init(LocalStripe::start)
}

/// A gateway on the run's localstripe, verifying webhooks with
/// `webhook_secret`.
pub fn gateway(webhook_secret: &str) -> PaymentGateway {
    PaymentGateway::new(&GatewayConfig {
        secret_key: Secret::new(SECRET_KEY),
        api_base: Some(localstripe().url.clone()),
        webhook_secret: Secret::new(webhook_secret),
    })
    .expect("gateway on localstripe")
}

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run make test-deps (it installs localstripe for the payment tests)",
        python.display()
    );
    python
}

impl LocalStripe {
    fn start() -> Self {
        let python = venv_python();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/localstripe_server.py");
        let port = crate::common::postgres::free_port();
        let mut server = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start localstripe with {}: {e}", python.display()));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            // Answering an authenticated API call, not just listening.
            if let Ok((200, _)) = raw_request(port, "GET", "/v1/balance", &[], true) {
                break;
            }
            if let Ok(Some(status)) = server.try_wait() {
                panic!(
                    "localstripe exited during start-up ({status}); is localstripe installed? run make test-deps"
                );
            }
            assert!(
                Instant::now() < deadline,
                "localstripe did not answer on port {port} within {STARTUP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            _server: Mutex::new(server),
        }
    }

    /// A form POST with the secret key; status and JSON body.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        request_json(self.port, "POST", path, form, true)
    }

    /// A GET with the secret key; status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        request_json(self.port, "GET", path, &[], true)
    }

    /// Confirms a SetupIntent as Stripe.js does in the payer's browser:
    /// the publishable key and the client secret, the card details, no
    /// secret key. Returns the status and the SetupIntent (or the error).
    pub fn confirm_setup_intent_as_browser(
        &self,
        setup_intent: &str,
        client_secret: &str,
        card_number: &str,
    ) -> (u16, Value) {
        let form = [
            ("key", PUBLISHABLE_KEY),
            ("client_secret", client_secret),
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][number]", card_number),
            ("payment_method_data[card][exp_month]", "12"),
            ("payment_method_data[card][exp_year]", "2034"),
            ("payment_method_data[card][cvc]", "123"),
        ];
        request_json(
            self.port,
            "POST",
            &format!("/v1/setup_intents/{setup_intent}/confirm"),
            &form,
            false,
        )
    }

    /// A card PaymentMethod made the way Stripe.js makes one (not attached).
    pub fn create_card(&self, card_number: &str) -> String {
        let (status, body) = self.post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", card_number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2034"),
                ("card[cvc]", "123"),
            ],
        );
        assert_eq!(status, 200, "create payment method: {body}");
        body["id"].as_str().expect("payment method id").to_owned()
    }

    /// Registers a webhook endpoint: localstripe signs each event with
    /// `secret` and posts it to `url` about a second after it happens.
    /// Removed when the guard drops.
    pub fn webhook(&self, name: &str, url: &str, secret: &str) -> WebhookEndpoint {
        let (status, _) = raw_request(
            self.port,
            "POST",
            &format!("/_config/webhooks/{name}"),
            &[("url", url), ("secret", secret)],
            false,
        )
        .expect("configure webhook");
        assert_eq!(status, 200, "configure webhook {name}");
        WebhookEndpoint {
            port: self.port,
            name: name.to_owned(),
        }
    }
}

/// A registered webhook endpoint; unregistered when dropped.
pub struct WebhookEndpoint {
    port: u16,
    name: String,
}

impl Drop for WebhookEndpoint {
    fn drop(&mut self) {
        let path = format!("/_config/webhooks/{}", self.name);
        let _ = raw_request(self.port, "DELETE", &path, &[], false);
    }
}

/// One webhook delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub signature: String,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A loopback HTTP endpoint that answers 200 to every POST and hands the
/// deliveries to the test.
pub struct WebhookReceiver {
    pub url: String,
    deliveries: mpsc::Receiver<Delivery>,
}

impl WebhookReceiver {
    pub fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let (sender, deliveries) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                match read_delivery(stream) {
                    Some(delivery) => {
                        if sender.send(delivery).is_err() {
                            return;
                        }
                    }
                    None => continue,
                }
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/stripe"),
            deliveries,
        }
    }

    /// The first delivery whose event matches, waiting up to `timeout`.
    pub fn wait_for(&self, timeout: Duration, matches: impl Fn(&Value) -> bool) -> Delivery {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.deliveries.recv_timeout(left) {
                Ok(delivery) if matches(&delivery.json()) => return delivery,
                Ok(_) => continue,
                Err(_) => panic!("no matching webhook delivery within {timeout:?}"),
            }
        }
    }
}

/// Reads one HTTP request (headers, `Content-Length` body) and answers 200.
fn read_delivery(stream: TcpStream) -> Option<Delivery> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut signature = None;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("stripe-signature") {
                signature = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Delivery {
        signature: signature?,
        body,
    })
}

/// `application/x-www-form-urlencoded` for `form`.
fn encode_form(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A blocking HTTP/1.0 request to localstripe (usable outside a runtime,
/// as start-up and `Drop` are): status and body.
fn raw_request(
    port: u16,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
    authenticated: bool,
) -> std::io::Result<(u16, Vec<u8>)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = encode_form(form);
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    if authenticated {
        request.push_str(&format!("Authorization: Bearer {SECRET_KEY}\r\n"));
    }
    if !form.is_empty() || method == "POST" {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
    let start = text
        .find("\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(response.len());
    Ok((status, response[start..].to_vec()))
}

fn request_json(
    port: u16,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
    authenticated: bool,
) -> (u16, Value) {
    let (status, body) = raw_request(port, method, path, form, authenticated)
        .unwrap_or_else(|e| panic!("{method} {path} on localstripe: {e}"));
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}
