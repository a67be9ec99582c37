//! A TCP proxy in front of PostgreSQL that can lose a connection exactly at
//! COMMIT: the way to show that a write whose COMMIT answer never arrived
//! is applied exactly once.
//!
//! Armed with a table name, the proxy watches each connection's queries; on
//! the first connection that inserts into that table, the next `COMMIT` is
//! either forwarded and its answer swallowed ([`Cut::AfterCommit`]: the
//! server commits, the client never hears of it) or never forwarded
//! ([`Cut::BeforeCommit`]: the server rolls back), and then the connection
//! is closed both ways.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the armed cut falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// COMMIT reaches the server; its answer does not reach the client.
    AfterCommit,
    /// COMMIT never reaches the server.
    BeforeCommit,
}

#[derive(Default)]
struct Armed {
    cut: Option<(Cut, String)>,
    fired: bool,
}

/// The proxy; it runs until the test process ends.
pub struct CommitCutProxy {
    pub port: u16,
    armed: Arc<Mutex<Armed>>,
}

impl CommitCutProxy {
    /// Listens on a free loopback port and forwards to `upstream_port`.
    pub fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(Mutex::new(Armed::default()));
        let shared = armed.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                proxy(client, server, shared.clone());
            }
        });
        Self { port, armed }
    }

    /// Arms one cut at the next COMMIT of a transaction that inserts into
    /// `table`.
    pub fn arm(&self, cut: Cut, table: &str) {
        let mut armed = self.armed.lock().unwrap();
        armed.cut = Some((cut, format!("INSERT INTO \"{table}\"")));
        armed.fired = false;
    }

    /// Whether the armed cut happened.
    pub fn fired(&self) -> bool {
        self.armed.lock().unwrap().fired
    }

    /// `url` (a `postgres://…@127.0.0.1:PORT/db` URL) through the proxy.
    pub fn url_for(&self, url: &str) -> String {
        let (head, tail) = url.rsplit_once(':').unwrap();
        let database = tail.split_once('/').unwrap().1;
        format!("{head}:{}/{database}", self.port)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn proxy(client: TcpStream, server: TcpStream, armed: Arc<Mutex<Armed>>) {
    let swallow = Arc::new(AtomicBool::new(false));
    let (mut from_server, mut to_client) =
        (server.try_clone().unwrap(), client.try_clone().unwrap());
    let swallowing = swallow.clone();
    // Tells the other direction that the server answered a swallowed COMMIT.
    let (answered, server_answered) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut buf) {
            if swallowing.load(Ordering::SeqCst) {
                let _ = answered.send(());
                break;
            }
            if to_client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let (mut from_client, mut to_server) = (client, server);
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut inserted = false;
        while let Ok(n @ 1..) = from_client.read(&mut buf) {
            let chunk = &buf[..n];
            let cut = {
                let mut armed = armed.lock().unwrap();
                match &armed.cut {
                    Some((cut, insert)) if !armed.fired => {
                        inserted |= contains(chunk, insert.as_bytes());
                        let cut = *cut;
                        let fire = inserted && contains(chunk, b"COMMIT");
                        armed.fired |= fire;
                        fire.then_some(cut)
                    }
                    _ => None,
                }
            };
            match cut {
                None => {
                    if to_server.write_all(chunk).is_err() {
                        break;
                    }
                }
                Some(cut) => {
                    swallow.store(true, Ordering::SeqCst);
                    if cut == Cut::AfterCommit {
                        let _ = to_server.write_all(chunk);
                        // The server has committed once it answers.
                        server_answered
                            .recv_timeout(Duration::from_secs(10))
                            .expect("the server answered COMMIT");
                    }
                    break;
                }
            }
        }
        let _ = to_server.shutdown(Shutdown::Both);
        let _ = from_client.shutdown(Shutdown::Both);
    });
}
