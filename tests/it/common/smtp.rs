//! A real SMTP server that captures mail, for email delivery tests.
//!
//! PyPI's `aiosmtpd` with its `Mailbox` handler stores every message it
//! accepts in a Maildir, with the envelope recipients in an `X-RcptTo`
//! header. It runs from the venv `make test-deps` creates in `.tools/venv`;
//! without it the test fails and says so, rather than skipping.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running capture server; stopped when dropped.
pub struct SmtpCapture {
    /// `smtp://127.0.0.1:PORT`, for `email.smtp_url`.
    pub url: String,
    maildir: tempfile::TempDir,
    server: Child,
}

/// The venv's interpreter; panics with the fix when it is missing.
fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run make test-deps (it installs aiosmtpd for the SMTP capture server)",
        python.display()
    );
    python
}

impl SmtpCapture {
    /// Starts aiosmtpd on a free loopback port and waits until it accepts
    /// connections.
    pub fn start() -> Self {
        let python = venv_python();
        let maildir = tempfile::tempdir().expect("maildir temp dir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.path().join(sub)).expect("create maildir");
        }
        let port = crate::common::postgres::free_port();
        let server = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start aiosmtpd with {}: {e}", python.display()));
        let mut capture = Self {
            url: format!("smtp://127.0.0.1:{port}"),
            maildir,
            server,
        };
        capture.wait_until_listening(port);
        capture
    }

    fn wait_until_listening(&mut self, port: u16) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!("aiosmtpd exited during start-up ({status}); is aiosmtpd installed? run make test-deps");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept connections on port {port} within {STARTUP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The raw message (headers and MIME body) whose envelope recipients
    /// include `to`, waiting up to `timeout` for it to arrive.
    pub fn wait_for_message(&self, to: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(message) = self.find_message(to) {
                return message;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no message for {to} reached the SMTP capture server within {timeout:?}; it holds: {:?}",
                    self.recipients()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every delivered message: Maildir moves complete files into `new`.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.path().join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .collect()
    }

    fn find_message(&self, to: &str) -> Option<String> {
        self.messages().into_iter().find(|message| {
            envelope_recipients(message)
                .iter()
                .any(|r| r.eq_ignore_ascii_case(to))
        })
    }

    fn recipients(&self) -> Vec<String> {
        self.messages()
            .iter()
            .flat_map(|message| envelope_recipients(message))
            .collect()
    }
}

/// The six-digit code in the plain-text part of the message sent to `to`.
pub fn code_for(smtp: &SmtpCapture, to: &str) -> String {
    let message = smtp.wait_for_message(to, Duration::from_secs(10));
    let body = message
        .split("Content-Type: text/plain")
        .nth(1)
        .expect("a text part");
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("no code in {body}"))
        .to_owned()
}

/// The addresses in the `X-RcptTo` header aiosmtpd adds.
fn envelope_recipients(message: &str) -> Vec<String> {
    message
        .lines()
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.strip_prefix("X-RcptTo:"))
        .flat_map(|value| value.split(','))
        .map(|address| address.trim().to_owned())
        .collect()
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
