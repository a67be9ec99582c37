//! SimpleSAMLphp, a real SAML 2.0 IdP, for the SAML tests.
//!
//! One IdP per run, started on first use like the PostgreSQL cluster:
//! Debian's `simplesamlphp` (1.19, installed by `make test-deps`) served by
//! PHP's built-in server on a free loopback port, with the configuration
//! template of `tests/peers/simplesamlphp` filled in (base URL, run
//! directory) inside a temp dir, and a key and certificate made there by
//! `openssl`. A watchdog shell stops the server and removes the directory
//! once the test process is gone, however it ends. Missing packages fail
//! the test and say how to install them; it never skips.
//!
//! The IdP signs both the Response and the Assertion, its NameID is the
//! user's email (format emailAddress), and it honours `ForceAuthn`: a
//! browser with an IdP session is answered silently, unless the
//! AuthnRequest says `ForceAuthn="true"`, which shows the login form again.
//!
//! The server is shared by every test of the run: each test registers its
//! own SPs ([`SamlIdp::register_sp`], unique entity IDs) and signs in as its
//! own user ([`USERS`]). SimpleSAMLphp reads its SP metadata file on every
//! request (the OPcache is off for that), so a registration takes effect
//! on the next request.
//!
//! Pages a browser test meets (`php -S` answers unknown SPs and other
//! errors with status 200 and an error page, so look at the title):
//! - the login form, [`LOGIN_PATH`], title [`LOGIN_TITLE`]: text inputs
//!   `#username` and `#password` (names `username`, `password`), submit
//!   `#submit_button`; a wrong password shows the form again;
//! - after a login, or at once when the IdP session suffices, a page titled
//!   "POST data" whose script posts `SAMLResponse` and `RelayState` to the
//!   SP's ACS URL (its button, `#postLoginSubmitButton`, is clicked by
//!   `post.js`, so a browser goes on to the ACS by itself);
//! - an unknown SP entity ID: title "Metadata not found".

// A harness: not every test uses every helper and constant.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A user of the IdP (`exampleauth:UserPass`, tests/peers/simplesamlphp/authsources.php).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdpUser {
    pub username: &'static str,
    pub password: &'static str,
    /// Also the NameID (format emailAddress) and the `email` attribute.
    pub email: &'static str,
    /// The `givenName` attribute.
    pub given_name: &'static str,
    /// The `sn` attribute.
    pub family_name: &'static str,
}

pub const ALICE: IdpUser = IdpUser {
    username: "alice",
    password: "alicepass",
    email: "alice@idp.steward.test",
    given_name: "Alice",
    family_name: "Anderson",
};
pub const BOB: IdpUser = IdpUser {
    username: "bob",
    password: "bobpass",
    email: "bob@idp.steward.test",
    given_name: "Bob",
    family_name: "Brown",
};
pub const CAROL: IdpUser = IdpUser {
    username: "carol",
    password: "carolpass",
    email: "carol@idp.steward.test",
    given_name: "Carol",
    family_name: "Clark",
};
pub const DAVE: IdpUser = IdpUser {
    username: "dave",
    password: "davepass",
    email: "dave@idp.steward.test",
    given_name: "Dave",
    family_name: "Davis",
};
/// Every user, so parallel tests can each take their own.
pub const USERS: [IdpUser; 4] = [ALICE, BOB, CAROL, DAVE];

/// The email domain of every user.
pub const EMAIL_DOMAIN: &str = "idp.steward.test";
/// Attribute names in the assertion (NameFormat `basic`).
pub const ATTR_EMAIL: &str = "email";
pub const ATTR_GIVEN_NAME: &str = "givenName";
pub const ATTR_FAMILY_NAME: &str = "sn";
pub const ATTR_UID: &str = "uid";

/// Path of the login form (with an `AuthState` query parameter).
pub const LOGIN_PATH: &str = "/module.php/core/loginuserpass.php";
/// Title of the login form page.
pub const LOGIN_TITLE: &str = "Enter your username and password";
/// CSS selectors of the login form.
pub const USERNAME_INPUT: &str = "#username";
pub const PASSWORD_INPUT: &str = "#password";
pub const SUBMIT_BUTTON: &str = "#submit_button";
/// Title of the page that posts the SAMLResponse to the ACS URL.
pub const POST_TITLE: &str = "POST data";

/// The NameID format of the IdP's assertions.
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

const PHP: &str = "/usr/bin/php";
const WWW: &str = "/usr/share/simplesamlphp/www";
const OPENSSL: &str = "/usr/bin/openssl";
/// PHP's built-in server handles one request at a time per worker; a few
/// workers let parallel tests' browsers in at once.
const PHP_WORKERS: &str = "4";
/// How long the IdP may take to serve its metadata.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The running IdP.
pub struct SamlIdp {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    port: u16,
    /// The run directory (config, key, sessions, logs); removed by the
    /// watchdog after the run.
    dir: PathBuf,
    certificate_pem: String,
    /// The comment heading `saml20-sp-remote.php` (from the template).
    sp_header: String,
    /// SP entity ID → ACS URL; the file is rewritten whole from it.
    sps: Mutex<BTreeMap<String, String>>,
    /// Kept so the child is not reaped early; the watchdog stops it.
    _server: Mutex<Child>,
}

static SIMPLESAMLPHP: OnceLock<SamlIdp> = OnceLock::new();

/// The SimpleSAMLphp IdP of this run, started on first use.
pub fn simplesamlphp() -> &'static SamlIdp {
    SIMPLESAMLPHP.get_or_init(SamlIdp::start)
}

fn template_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/simplesamlphp")
}

fn require_installed() {
    for (path, what) in [
        (PHP, "php-cli"),
        (WWW, "simplesamlphp"),
        (OPENSSL, "openssl"),
    ] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: run make test-deps (it installs {what} for the SAML IdP, SimpleSAMLphp)"
        );
    }
}

impl SamlIdp {
    fn start() -> Self {
        require_installed();
        let port = crate::common::postgres::free_port();
        let base_url = format!("http://127.0.0.1:{port}");
        let dir = tempfile::Builder::new()
            .prefix("steward-saml-idp-")
            .tempdir()
            .expect("IdP temp dir")
            .keep();
        for sub in ["config/metadata", "cert", "log", "data", "tmp", "sessions"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the IdP directories");
        }

        let templates = template_dir();
        let dir_text = dir.to_str().expect("temp dir path is UTF-8");
        let render = |name: &str| -> String {
            let path = templates.join(name);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
                .replace("@BASE_URL@", &format!("{base_url}/"))
                .replace("@RUN_DIR@", dir_text)
        };
        for name in [
            "config.php",
            "authsources.php",
            "metadata/saml20-idp-hosted.php",
        ] {
            std::fs::write(dir.join("config").join(name), render(name))
                .unwrap_or_else(|e| panic!("write the IdP's {name}: {e}"));
        }
        let sp_header = render("metadata/saml20-sp-remote.php");
        std::fs::write(dir.join("config/metadata/saml20-sp-remote.php"), &sp_header)
            .expect("write the IdP's saml20-sp-remote.php");

        let key = dir.join("cert/idp.key");
        let cert = dir.join("cert/idp.crt");
        let output = Command::new(OPENSSL)
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-days", "2", "-subj", "/CN=steward-test-idp", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let certificate_pem = std::fs::read_to_string(&cert).expect("read the IdP certificate");

        let log_path = dir.join("log/php-server.log");
        let mut php = Command::new(PHP);
        php.args(["-d", "opcache.enable=0", "-S"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-t")
            .arg(WWW)
            .current_dir(&dir)
            .env("SIMPLESAMLPHP_CONFIG_DIR", dir.join("config"))
            .env("PHP_CLI_SERVER_WORKERS", PHP_WORKERS);
        let log = std::fs::File::create(&log_path).expect("create the IdP log");
        let mut server = spawn_with_watchdog(&php, Some(dir.as_path()), log)
            .unwrap_or_else(|e| panic!("start php -S for SimpleSAMLphp: {e}"));

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            // Serving its (signed) metadata, not just listening.
            if let Ok((200, body)) = http_get(port, "/saml2/idp/metadata.php") {
                if String::from_utf8_lossy(&body).contains("EntityDescriptor") {
                    break;
                }
            }
            if let Ok(Some(status)) = server.try_wait() {
                panic!(
                    "SimpleSAMLphp (php -S) exited during start-up ({status}); see {} and {}",
                    log_path.display(),
                    dir.join("log/simplesamlphp.log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "SimpleSAMLphp did not serve its metadata on port {port} within {STARTUP_TIMEOUT:?}; see {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        Self {
            base_url,
            port,
            dir,
            certificate_pem,
            sp_header,
            sps: Mutex::new(BTreeMap::new()),
            _server: Mutex::new(server),
        }
    }

    /// The IdP's entity ID, which is also its metadata URL.
    pub fn entity_id(&self) -> String {
        self.metadata_url()
    }

    /// `http://127.0.0.1:PORT/saml2/idp/metadata.php`: signed metadata.
    pub fn metadata_url(&self) -> String {
        format!("{}/saml2/idp/metadata.php", self.base_url)
    }

    /// The IdP's metadata XML (signed, with both SSO bindings).
    pub fn metadata_xml(&self) -> String {
        let (status, body) = http_get(self.port, "/saml2/idp/metadata.php")
            .unwrap_or_else(|e| panic!("fetch the IdP metadata: {e}"));
        assert_eq!(status, 200, "IdP metadata status");
        String::from_utf8(body).expect("IdP metadata is UTF-8")
    }

    /// `http://127.0.0.1:PORT/saml2/idp/SSOService.php`, for both the
    /// HTTP-Redirect and the HTTP-POST binding.
    pub fn sso_url(&self) -> String {
        format!("{}/saml2/idp/SSOService.php", self.base_url)
    }

    /// `http://127.0.0.1:PORT/saml2/idp/SingleLogoutService.php`.
    pub fn slo_url(&self) -> String {
        format!("{}/saml2/idp/SingleLogoutService.php", self.base_url)
    }

    /// The signing certificate, PEM (`-----BEGIN CERTIFICATE-----` …).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The signing certificate as in metadata's `X509Certificate`: the PEM
    /// body, base64 without line breaks.
    pub fn certificate_base64(&self) -> String {
        self.certificate_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect()
    }

    /// SimpleSAMLphp's own log (errors about requests land here).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log/simplesamlphp.log")
    }

    /// Registers an SP (a Steward SAML connection): the IdP answers its
    /// AuthnRequests with a Response posted (HTTP-POST) to `acs_url`.
    /// Registering the same entity ID again replaces its ACS URL. Safe from
    /// parallel tests: the whole metadata file is rewritten under a lock
    /// and swapped in by a rename, so a request never sees half a file.
    pub fn register_sp(&self, entity_id: &str, acs_url: &str) {
        let mut sps = self.sps.lock().unwrap_or_else(|e| e.into_inner());
        sps.insert(entity_id.to_owned(), acs_url.to_owned());
        let mut text = self.sp_header.clone();
        for (entity, acs) in sps.iter() {
            text.push_str(&format!(
                "\n$metadata[{entity}] = [\n    'AssertionConsumerService' => [[\n        'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',\n        'Location' => {acs},\n    ]],\n    'NameIDFormat' => '{NAMEID_EMAIL}',\n    'simplesaml.nameidattribute' => 'email',\n];\n",
                entity = php_string(entity),
                acs = php_string(acs),
            ));
        }
        let staged = self.dir.join("saml20-sp-remote.php.new");
        std::fs::write(&staged, text).expect("write the SP metadata");
        std::fs::rename(
            &staged,
            self.dir.join("config/metadata/saml20-sp-remote.php"),
        )
        .expect("swap in the SP metadata");
    }
}

/// A PHP single-quoted string literal holding `text`.
fn php_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Spawns `command` (program, arguments, environment and directory) under
/// a watchdog shell in a process group of its own, with its output going
/// to `log`. Once this test process is gone, however it ended, the
/// watchdog stops the whole group (the program and whatever it started)
/// and deletes `remove`. The returned child is the watchdog; it exits
/// early if the program does.
pub fn spawn_with_watchdog(
    command: &Command,
    remove: Option<&Path>,
    log: std::fs::File,
) -> std::io::Result<Child> {
    // $1: this process, $2: what to delete afterwards ("" for nothing),
    // the rest: the program and its arguments.
    const SCRIPT: &str = r#"parent=$1; remove=$2; shift 2
"$@" &
child=$!
trap '' TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill -TERM 0 2>/dev/null
wait
if ! kill -0 "$parent" 2>/dev/null && [ -n "$remove" ]; then rm -rf "$remove"; fi
"#;
    let mut watchdog = Command::new("/bin/sh");
    watchdog
        .arg("-c")
        .arg(SCRIPT)
        .arg("steward-test-watchdog")
        .arg(std::process::id().to_string())
        .arg(remove.map(Path::as_os_str).unwrap_or_default())
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => watchdog.env(name, value),
            None => watchdog.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        watchdog.current_dir(dir);
    }
    let stderr = log.try_clone()?;
    watchdog
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        // Its own group: `kill 0` in the script must not reach the tests.
        .process_group(0)
        .spawn()
}

/// A blocking HTTP/1.1 request on loopback `port` (usable outside a
/// runtime, as start-up is): status and body. Reads `Content-Length`
/// bytes when the response says how many (chromedriver keeps the
/// connection open), else up to the end of the connection (`php -S`).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, Vec<u8>)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(body) = body {
        request.push_str("Content-Type: application/json\r\n");
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        request.push_str("Content-Length: 0\r\n\r\n");
    }
    stream.write_all(request.as_bytes())?;

    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut header_end = None;
    let mut content_length = None;
    loop {
        if let (Some(end), Some(length)) = (header_end, content_length) {
            if response.len() >= end + length {
                break;
            }
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
        if header_end.is_none() {
            if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                header_end = Some(i + 4);
                let head = String::from_utf8_lossy(&response[..i]).into_owned();
                content_length = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    if name.trim().eq_ignore_ascii_case("content-length") {
                        value.trim().parse::<usize>().ok()
                    } else {
                        None
                    }
                });
            }
        }
    }
    let end = header_end.ok_or_else(|| std::io::Error::other("no HTTP header in the response"))?;
    let status = String::from_utf8_lossy(&response[..end])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
    let stop = content_length.map_or(response.len(), |length| (end + length).min(response.len()));
    Ok((status, response[end..stop].to_vec()))
}

fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    http_request(port, "GET", path, None)
}
