//! The GitHub-shaped OAuth 2.0 server (`tests/peers/oidc/github.mjs`):
//! GitHub's authorize and token endpoints and the two REST calls a sign-in
//! needs, on one origin.

use super::*;

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
