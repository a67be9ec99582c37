//! Child processes of the tests: `steward serve` as an operator runs it,
//! nginx in front of such processes, the wait until a child listens on its
//! port, and a Frontend API call to them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::postgres::free_port;

/// How long a child may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Blocks until something accepts connections on loopback `port`; panics
/// naming `what` when nothing does within 30 s.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within {STARTUP_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process, killed and reaped when dropped: a failing test leaves
/// no server behind.
pub struct Process(pub Child);

impl Process {
    /// SIGKILL now: no shutdown, no flushing.
    pub fn kill(mut self) {
        self.0.kill().expect("kill the child");
        self.0.wait().expect("reap the child");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `steward serve` before it starts: free loopback ports for both
/// listeners, the test encryption key, one worker and a spool file in the
/// caller's directory. Add arguments and variables through `command`.
pub struct Serve {
    pub command: Command,
    pub fapi_port: u16,
    pub bapi_port: u16,
}

/// A running `steward serve`; killed when dropped.
pub struct Server {
    process: Process,
    pub fapi_port: u16,
    pub bapi_port: u16,
    /// `http://127.0.0.1:PORT` of the Frontend API.
    pub fapi: String,
    /// `http://127.0.0.1:PORT` of the Backend API.
    pub bapi: String,
}

impl Serve {
    /// `steward serve` on `database_url` with `secret_key`; its spool file
    /// is `spool` (one per process).
    pub fn new(database_url: &str, secret_key: &str, spool: &Path) -> Self {
        let (fapi_port, bapi_port) = (free_port(), free_port());
        let mut command = super::steward_command();
        command
            .arg("serve")
            .env("STEWARD__DATABASE__URL", database_url)
            .env(
                "STEWARD__SERVER__FRONTEND_ADDR",
                format!("127.0.0.1:{fapi_port}"),
            )
            .env(
                "STEWARD__SERVER__BACKEND_ADDR",
                format!("127.0.0.1:{bapi_port}"),
            )
            .env("STEWARD__INSTANCE__SECRET_KEY", secret_key)
            .env(
                "STEWARD__INSTANCE__ENCRYPTION_KEY",
                super::TEST_ENCRYPTION_KEY,
            )
            .env("STEWARD__SERVER__WORKERS", "1")
            .env("STEWARD__SPOOL__PATH", spool)
            .stdout(Stdio::null());
        Self {
            command,
            fapi_port,
            bapi_port,
        }
    }

    /// Spawns the process and waits until its Backend API listens (the
    /// last listener it binds).
    pub fn start(mut self) -> Server {
        let child = self.command.spawn().expect("steward serve starts");
        let process = Process(child);
        wait_for_port(self.bapi_port, "steward serve");
        Server {
            process,
            fapi_port: self.fapi_port,
            bapi_port: self.bapi_port,
            fapi: format!("http://127.0.0.1:{}", self.fapi_port),
            bapi: format!("http://127.0.0.1:{}", self.bapi_port),
        }
    }
}

impl Server {
    /// SIGKILL: no shutdown, no flushing.
    pub fn kill(self) {
        self.process.kill();
    }
}

/// nginx (Debian's) in the foreground with the configuration `conf`,
/// written into `dir`; returns once it listens on `port`, the one `conf`
/// names.
pub fn nginx(dir: &Path, conf: &str, port: u16) -> Process {
    let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("nginx is installed (make test-deps)");
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    let child = Command::new(program)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-e", "stderr", "-g"])
        .arg(format!(
            "daemon off; master_process off; pid {}/nginx.pid;",
            dir.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let process = Process(child);
    wait_for_port(port, "nginx");
    process
}

/// A native Frontend API call to a child process (or nginx in front of
/// some): status, the client token handed back, the body and `Retry-After`.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>, Value, Option<String>) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.header("authorization", token);
    }
    if !form.is_empty() {
        request = request.form(form);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (authorization, retry_after) = (header("authorization"), header("retry-after"));
    let body = response.json().await.unwrap_or(Value::Null);
    (status, authorization, body, retry_after)
}
