//! A real OpenID Connect provider and a GitHub-shaped OAuth2 server, for
//! the social sign-in tests (Steward is the OAuth client; its callback is
//! `<FAPI>/v1/oauth_callback`).
//!
//! One of each per run, started on first use like the PostgreSQL cluster:
//! - [`oidc_provider`]: panva's `oidc-provider` (npm, pinned in
//!   `tests/peers/oidc/package-lock.json`, installed by `make test-deps`)
//!   through `tests/peers/oidc/provider.mjs`. Issuer `http://127.0.0.1:PORT`,
//!   code flow only, PKCE (S256) required, ID tokens RS256 from its own
//!   JWKS, scopes `openid email profile` with their claims in the ID token
//!   as well as from userinfo (`/me`). The authorization response carries
//!   `iss` as well as `code` and `state` (RFC 9207).
//! - [`github_mock`]: `tests/peers/oidc/github.mjs`, GitHub's OAuth
//!   endpoints and the two REST calls a sign-in needs (`/user`,
//!   `/user/emails`) on one origin.
//!
//! Both run under [`spawn_with_watchdog`], which stops them once the test
//! process is gone. A missing `node` or `node_modules` fails the test and
//! says to run `make test-deps`; it never skips.
//!
//! Both are shared by every test of the run, so a test registers its own
//! client (a unique client ID, redirect URI on its own Steward's port), and
//! sets modes and delays for that client only: they never reach the
//! other tests' clients.
//!
//! Signing in over plain HTTP ([`login_over_http`]), the steps a browser
//! takes on the provider's built-in (devInteractions) pages:
//! 1. `GET <authorize URL>` (`/auth?...`) → 303 to `/interaction/UID`
//!    (relative), setting `_interaction` (+ `.sig`, path `/interaction/UID`)
//!    and `_interaction_resume` (+ `.sig`, path `/auth/UID`).
//! 2. `GET /interaction/UID` → 200, title "Sign-in", a form POSTing to
//!    `http://127.0.0.1:PORT/interaction/UID` with `prompt=login`,
//!    `login=<account id>`, `password=<anything>`.
//! 3. `POST` it → 303 to `http://127.0.0.1:PORT/auth/UID`.
//! 4. `GET /auth/UID` (with `_interaction_resume`) → 303 to
//!    `/interaction/UID2`, setting `_session` (+ `.sig`, path `/`) and new
//!    interaction cookies for UID2.
//! 5. `GET /interaction/UID2` → 200, title "Authorize", a form with
//!    `prompt=consent` only; `POST` it → 303 to `/auth/UID2`.
//! 6. `GET /auth/UID2` → 303 to `<redirect_uri>?code=…&state=…&iss=…`.
//!
//! Cookies are path-scoped and signed (`name.sig`): keep every cookie with
//! its path and send the ones whose path matches. Errors before the client
//! is known (unknown client, unregistered redirect URI) are a 400 JSON body
//! from the provider; later ones (e.g. no PKCE) redirect to the callback
//! with `error=…&state=…&iss=…`. Signing in as an unknown account id
//! ends in a 500 at step 6.

// A harness: not every test uses every helper and constant.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};
use serde_json::{json, Value};

use super::postgres::free_port;
use super::saml_idp::{http_request, spawn_with_watchdog};

mod browsing;
pub mod github;
use browsing::*;
pub use github::{github_login_over_http, github_mock, GITHUB_BOB};

/// An account of the OIDC provider (built into `provider.mjs`). Sign in
/// with its `id` (any password); `id` is also the `sub` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OidcAccount {
    pub id: &'static str,
    pub email: &'static str,
    pub email_verified: bool,
    pub name: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub picture: &'static str,
}

pub const ALICE: OidcAccount = OidcAccount {
    id: "alice",
    email: "alice@oidc.steward.test",
    email_verified: true,
    name: "Alice Anderson",
    given_name: "Alice",
    family_name: "Anderson",
    picture: "https://images.oidc.steward.test/alice.png",
};
pub const BOB: OidcAccount = OidcAccount {
    id: "bob",
    email: "bob@oidc.steward.test",
    email_verified: true,
    name: "Bob Brown",
    given_name: "Bob",
    family_name: "Brown",
    picture: "https://images.oidc.steward.test/bob.png",
};
/// `email_verified: false`: for the test where the address collides with
/// an existing user, who must not be taken over.
pub const MALLORY: OidcAccount = OidcAccount {
    id: "mallory",
    email: "mallory@oidc.steward.test",
    email_verified: false,
    name: "Mallory Moore",
    given_name: "Mallory",
    family_name: "Moore",
    picture: "https://images.oidc.steward.test/mallory.png",
};
pub const OIDC_ACCOUNTS: [OidcAccount; 3] = [ALICE, BOB, MALLORY];

/// What the provider does to the ID token of one client's token responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenMode {
    /// As issued.
    Valid,
    /// Signed by a key not in the JWKS (same `kid`).
    WrongKey,
    /// `aud` is someone else.
    WrongAudience,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `exp` (and `iat`) in the past.
    Expired,
    /// A `nonce` other than the one sent.
    WrongNonce,
    /// `alg: none`, no signature.
    AlgNone,
}

impl IdTokenMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::WrongKey => "wrong_key",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::Expired => "expired",
            Self::WrongNonce => "wrong_nonce",
            Self::AlgNone => "alg_none",
        }
    }
}

/// How a client authenticates at the provider's token endpoint (the
/// provider accepts only the registered one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    /// HTTP Basic with client ID and secret (the default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl TokenAuthMethod {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// How long node may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The wait for any one request of [`login_over_http`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc")
}

/// The `node` on `PATH`; panics saying how to install it when missing.
fn node_program() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("node"))
            .find(|candidate| candidate.is_file())
    });
    let node = found.unwrap_or_else(|| {
        panic!("node is not installed: run make test-deps (the OIDC provider tests need Node.js)")
    });
    let modules = peer_dir().join("node_modules/oidc-provider/package.json");
    assert!(
        modules.is_file(),
        "{} is missing: run make test-deps (it runs npm ci in tests/peers/oidc)",
        modules.display()
    );
    node
}

/// A node script of `tests/peers/oidc` running on a free loopback port.
struct NodePeer {
    port: u16,
    /// The run directory (the log); removed by the watchdog after the run.
    dir: PathBuf,
    /// Kept so the child is not reaped early; the watchdog stops it.
    server: Mutex<Child>,
}

impl NodePeer {
    /// Starts `script` and waits until `GET ready_path` answers 200 with a
    /// body containing `ready_text`.
    fn start(script: &str, what: &str, ready_path: &str, ready_text: &str) -> Self {
        let node = node_program();
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("steward-oidc-peer-")
            .tempdir()
            .expect("peer temp dir")
            .keep();
        let log_path = dir.join(format!("{what}.log"));
        let log = std::fs::File::create(&log_path).expect("create the peer log");
        let mut command = Command::new(&node);
        command
            .arg(peer_dir().join(script))
            .current_dir(peer_dir())
            .env("PORT", port.to_string());
        let mut server = spawn_with_watchdog(&command, Some(dir.as_path()), log)
            .unwrap_or_else(|e| panic!("start {what} with {}: {e}", node.display()));

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok((200, body)) = http_request(port, "GET", ready_path, None) {
                if String::from_utf8_lossy(&body).contains(ready_text) {
                    break;
                }
            }
            if let Ok(Some(status)) = server.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "{what} exited during start-up ({status}); run make test-deps if modules are missing. Its log:\n{log}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not answer {ready_path} on port {port} within {STARTUP_TIMEOUT:?}; see {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            dir,
            server: Mutex::new(server),
        }
    }

    /// A POST of `body` (JSON) to an admin route; panics unless it answers
    /// `expected`. Blocking, so usable outside a runtime.
    fn admin(&self, path: &str, body: &Value, expected: u16) -> Value {
        let (status, response) = http_request(self.port, "POST", path, Some(&body.to_string()))
            .unwrap_or_else(|e| panic!("POST {path} on port {}: {e}", self.port));
        let response = serde_json::from_slice(&response).unwrap_or(Value::Null);
        assert_eq!(status, expected, "POST {path} {body}: {response}");
        response
    }
}

/// The running OIDC provider.
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT` (no trailing slash), also the `iss` claim.
    pub issuer: String,
    pub port: u16,
    peer: NodePeer,
}

static OIDC_PROVIDER: OnceLock<OidcProvider> = OnceLock::new();

/// The OIDC provider of this run, started on first use.
pub fn oidc_provider() -> &'static OidcProvider {
    OIDC_PROVIDER.get_or_init(|| {
        let peer = NodePeer::start(
            "provider.mjs",
            "oidc-provider",
            "/.well-known/openid-configuration",
            "authorization_endpoint",
        );
        OidcProvider {
            issuer: format!("http://127.0.0.1:{}", peer.port),
            port: peer.port,
            peer,
        }
    })
}

impl OidcProvider {
    /// `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `<issuer>/auth`.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/auth", self.issuer)
    }

    /// `<issuer>/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// `<issuer>/me`.
    pub fn userinfo_endpoint(&self) -> String {
        format!("{}/me", self.issuer)
    }

    /// `<issuer>/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The provider's log (its warnings and errors).
    pub fn log_path(&self) -> PathBuf {
        self.peer.dir.join("oidc-provider.log")
    }

    /// Registers a confidential client authenticating with HTTP Basic at
    /// the token endpoint. Registering the same ID again replaces it.
    pub fn register_client(&self, client_id: &str, secret: &str, redirect_uri: &str) {
        self.register_client_with(
            client_id,
            secret,
            &[redirect_uri],
            TokenAuthMethod::ClientSecretBasic,
        );
    }

    /// [`OidcProvider::register_client`] with several redirect URIs and a
    /// choice of token endpoint authentication.
    pub fn register_client_with(
        &self,
        client_id: &str,
        secret: &str,
        redirect_uris: &[&str],
        method: TokenAuthMethod,
    ) {
        self.peer.admin(
            "/_test/clients",
            &json!({
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": redirect_uris,
                "token_endpoint_auth_method": method.as_str(),
            }),
            201,
        );
    }

    /// Adds (or replaces) an account: `{"id", "email", "email_verified",
    /// "name", "given_name", "family_name", "picture"}`; `id` and `email`
    /// are required, `email_verified` defaults to true.
    pub fn add_account(&self, account: Value) {
        self.peer.admin("/_test/accounts", &account, 201);
    }

    /// What the ID tokens issued to `client_id` from now on look like.
    pub fn set_mode(&self, client_id: &str, mode: IdTokenMode) {
        self.peer.admin(
            "/_test/mode",
            &json!({"client_id": client_id, "id_token": mode.as_str()}),
            200,
        );
    }

    /// Makes the token endpoint answer `client_id` with `status` and a JSON
    /// `server_error` (after spending the code); `None` restores it.
    pub fn set_token_status(&self, client_id: &str, status: Option<StatusCode>) {
        self.peer.admin(
            "/_test/mode",
            &json!({"client_id": client_id, "token_status": status.map_or(0, |s| s.as_u16())}),
            200,
        );
    }

    /// Holds the token endpoint's answers to `client_id` back by `ms`
    /// milliseconds (0 restores it): for the timeout test.
    pub fn set_token_delay(&self, client_id: &str, ms: u64) {
        self.peer.admin(
            "/_test/delay_token_ms",
            &json!({"client_id": client_id, "ms": ms}),
            200,
        );
    }
}

/// Signs in as `account` (an account id: `"alice"`, [`ALICE`]`.id`, …) on
/// the provider's login and consent pages, starting from `authorize_url`
/// (the provider's `/auth?…` URL Steward redirected to), with a fresh
/// cookie jar. Returns the `Location` that leaves the provider (Steward's
/// callback with `code`, `state` and `iss`, or with `error`) without
/// following it.
pub async fn login_over_http(authorize_url: &str, account: &str) -> String {
    let provider = oidc_provider();
    let mut url =
        Url::parse(authorize_url).unwrap_or_else(|e| panic!("authorize URL {authorize_url}: {e}"));
    assert!(
        on_origin(&url, &provider.issuer),
        "{authorize_url} is not on the OIDC provider ({})",
        provider.issuer
    );
    let http = no_redirect_client();
    let mut jar = CookieJar::default();
    let mut trail = Vec::new();
    for _ in 0..12 {
        trail.push(format!("GET {url}"));
        let response = send(http.get(url.clone()), &url, &mut jar).await;
        let location = match response {
            Page::Redirect(location) => location,
            Page::Body(status, body) => {
                assert_eq!(status, StatusCode::OK, "{url} after {trail:?}: {body}");
                let (action, form) = interaction_form(&body, account)
                    .unwrap_or_else(|| panic!("no login or consent form at {url}: {body}"));
                let action = url
                    .join(&action)
                    .unwrap_or_else(|e| panic!("form action {action}: {e}"));
                trail.push(format!("POST {action} prompt={}", form[0].1));
                match send(http.post(action.clone()).form(&form), &action, &mut jar).await {
                    Page::Redirect(location) => location,
                    Page::Body(status, body) => {
                        panic!("{action} answered {status} after {trail:?}: {body}")
                    }
                }
            }
        };
        let next = url
            .join(&location)
            .unwrap_or_else(|e| panic!("redirect to {location}: {e}"));
        if !on_origin(&next, &provider.issuer) {
            return next.to_string();
        }
        url = next;
    }
    panic!("no redirect out of the provider after {trail:?}");
}
