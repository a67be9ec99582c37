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

/// A user of the GitHub mock (built into `github.mjs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GithubUser {
    pub login: &'static str,
    pub id: u64,
    /// The primary address.
    pub primary_email: &'static str,
    pub primary_verified: bool,
    /// `email` of `/user`: `None` unless the user made an address public.
    pub public_email: Option<&'static str>,
}

/// Public, verified primary address (and an unverified secondary one).
pub const GITHUB_ALICE: GithubUser = GithubUser {
    login: "alice",
    id: 1001,
    primary_email: "alice@github.steward.test",
    primary_verified: true,
    public_email: Some("alice@github.steward.test"),
};
/// Verified primary address, not public: only `/user/emails` has it.
pub const GITHUB_BOB: GithubUser = GithubUser {
    login: "bob",
    id: 1002,
    primary_email: "bob@github.steward.test",
    primary_verified: true,
    public_email: None,
};
/// Unverified primary address; a verified secondary one,
/// `mallory.alt@github.steward.test`.
pub const GITHUB_MALLORY: GithubUser = GithubUser {
    login: "mallory",
    id: 1003,
    primary_email: "mallory@github.steward.test",
    primary_verified: false,
    public_email: None,
};
pub const GITHUB_USERS: [GithubUser; 3] = [GITHUB_ALICE, GITHUB_BOB, GITHUB_MALLORY];

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

/// The running GitHub mock.
pub struct GithubMock {
    /// `http://127.0.0.1:PORT`: both the github.com and the
    /// api.github.com of the mock.
    pub base_url: String,
    pub port: u16,
    peer: NodePeer,
}

static GITHUB_MOCK: OnceLock<GithubMock> = OnceLock::new();

/// The GitHub mock of this run, started on first use.
pub fn github_mock() -> &'static GithubMock {
    GITHUB_MOCK.get_or_init(|| {
        let peer = NodePeer::start("github.mjs", "github-mock", "/_test/health", "ok");
        GithubMock {
            base_url: format!("http://127.0.0.1:{}", peer.port),
            port: peer.port,
            peer,
        }
    })
}

impl GithubMock {
    /// `<base>/login/oauth/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}/login/oauth/authorize", self.base_url)
    }

    /// `<base>/login/oauth/access_token`.
    pub fn token_url(&self) -> String {
        format!("{}/login/oauth/access_token", self.base_url)
    }

    /// The REST API base (`/user`, `/user/emails` under it).
    pub fn api_base(&self) -> String {
        self.base_url.clone()
    }

    /// Registers an OAuth app; the same ID again replaces it.
    pub fn register_client(&self, client_id: &str, secret: &str, redirect_uri: &str) {
        self.peer.admin(
            "/_test/clients",
            &json!({
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": [redirect_uri],
            }),
            201,
        );
    }

    /// Adds (or replaces) a user: `{"login", "id"?, "name"?, "email"?
    /// (public address), "emails": [{"email", "primary", "verified"}]}`.
    pub fn add_user(&self, user: Value) {
        self.peer.admin("/_test/users", &user, 201);
    }

    /// Holds the access token endpoint's answers to `client_id` back by
    /// `ms` milliseconds (0 restores it). Register the client first.
    pub fn set_token_delay(&self, client_id: &str, ms: u64) {
        self.peer.admin(
            "/_test/delay_token_ms",
            &json!({"client_id": client_id, "ms": ms}),
            200,
        );
    }
}

/// Approves `authorize_url` (the mock's `/login/oauth/authorize?…`) as the
/// user `login`: loads the page, then submits its form as the button for
/// that user does. Returns the `Location` (Steward's callback with `code`
/// and `state`) without following it.
pub async fn github_login_over_http(authorize_url: &str, login: &str) -> String {
    let url =
        Url::parse(authorize_url).unwrap_or_else(|e| panic!("authorize URL {authorize_url}: {e}"));
    let http = no_redirect_client();
    let page = http
        .get(url.clone())
        .send()
        .await
        .expect("GitHub authorize page");
    let status = page.status();
    let body = page.text().await.expect("GitHub authorize page body");
    assert_eq!(status, StatusCode::OK, "{authorize_url}: {body}");
    let mut form: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name != "login")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    form.push(("login".to_owned(), login.to_owned()));
    let mut action = url.clone();
    action.set_query(None);
    let response = http
        .post(action)
        .form(&form)
        .send()
        .await
        .expect("GitHub authorize form");
    let status = response.status();
    let location = location_of(&response);
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::FOUND, "authorize as {login}: {body}");
    location.unwrap_or_else(|| panic!("no Location from the GitHub mock: {body}"))
}

fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// Whether `url` is on `origin` (`http://127.0.0.1:PORT`).
fn on_origin(url: &Url, origin: &str) -> bool {
    url.origin().ascii_serialization() == origin
}

fn location_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

enum Page {
    /// A 3xx and its `Location` (possibly relative).
    Redirect(String),
    /// Anything else: the status and the body.
    Body(StatusCode, String),
}

/// Sends `request` for `url` with the jar's cookies, and stores the
/// cookies of the response.
async fn send(request: reqwest::RequestBuilder, url: &Url, jar: &mut CookieJar) -> Page {
    let request = match jar.header_for(url.path()) {
        Some(cookies) => request.header(reqwest::header::COOKIE, cookies),
        None => request,
    };
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url}: {e}"));
    for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
        if let Ok(value) = value.to_str() {
            jar.store(value);
        }
    }
    let status = response.status();
    if status.is_redirection() {
        let location = location_of(&response)
            .unwrap_or_else(|| panic!("{status} without Location from {url}"));
        return Page::Redirect(location);
    }
    Page::Body(status, response.text().await.unwrap_or_default())
}

/// The login or consent form on an interaction page: its action and the
/// fields to submit (`prompt` first).
fn interaction_form(body: &str, account: &str) -> Option<(String, Vec<(&'static str, String)>)> {
    let action = attribute_after(body, "<form", "action")?;
    let prompt = body
        .split("name=\"prompt\"")
        .nth(1)
        .and_then(|rest| attribute_after(rest, "", "value"))?;
    let mut form = vec![("prompt", prompt.clone())];
    match prompt.as_str() {
        "login" => {
            form.push(("login", account.to_owned()));
            form.push(("password", "any password".to_owned()));
        }
        "consent" => {}
        _ => return None,
    }
    Some((action, form))
}

/// The value of `name="…"` in the first tag after `marker` in `html`.
fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let tag = &html[start..start + html[start..].find('>')?];
    let needle = format!("{name}=\"");
    let value_start = tag.find(&needle)? + needle.len();
    let value = &tag[value_start..value_start + tag[value_start..].find('"')?];
    Some(value.replace("&amp;", "&").replace("&#x2F;", "/"))
}

/// Cookies by name and path, enough for one provider origin over http.
#[derive(Default)]
struct CookieJar {
    /// (name, path, value)
    cookies: Vec<(String, String, String)>,
}

impl CookieJar {
    /// Stores (or, when expired or emptied, removes) a `Set-Cookie` value.
    fn store(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        let mut path = "/".to_owned();
        let mut removed = value.is_empty();
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            let (key, val) = (key.trim().to_ascii_lowercase(), val.trim());
            match key.as_str() {
                "path" if val.starts_with('/') => path = val.to_owned(),
                "max-age" => removed |= val.parse::<i64>().is_ok_and(|age| age <= 0),
                "expires" => removed |= val.contains("1970"),
                _ => {}
            }
        }
        self.cookies.retain(|(n, p, _)| !(*n == name && *p == path));
        if !removed {
            self.cookies.push((name, path, value));
        }
    }

    /// The `Cookie` header for a request to `path`, if any cookie matches.
    fn header_for(&self, path: &str) -> Option<String> {
        let matching: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, cookie_path, _)| path_matches(path, cookie_path))
            .map(|(name, _, value)| format!("{name}={value}"))
            .collect();
        (!matching.is_empty()).then(|| matching.join("; "))
    }
}

/// RFC 6265 path-match.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}
