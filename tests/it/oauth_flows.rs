//! Social sign-in (`oauth_<provider>`) end to end against a real OpenID
//! Connect provider and the GitHub mock (common::oidc): the web flow, the
//! linking rules, the Android SDK's native flow and transfer, every
//! refusal (nothing created), and the GitHub and custom providers.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::fapi::FapiClient;
use crate::common::oidc::{login_over_http, oidc_provider, ALICE, MALLORY};
use crate::common::postgres::free_port;
use crate::common::{Backend, TestApp};

mod account_links;
mod connections_api;
mod native;
mod providers;
mod refusals;
mod sign_up;

on_every_backend!(
    a_web_sign_in_creates_the_user_once_and_keeps_the_token,
    a_verified_email_links_an_unverified_one_is_refused,
);

/// Browsers come from here; the sign-in returns here.
const CONFIG: &str = "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n";
const REDIRECT_URL: &str = "http://app.example.com/sso-callback";
const SECRET: &str = "oauth-test-secret";

/// A Steward on a public port with a client of its own at the provider.
struct Social {
    app: TestApp,
    /// The client ID at the provider (unique to this test).
    client_id: String,
    /// Steward's callback, as registered at the provider.
    callback: String,
    /// Follows the provider's redirect to Steward, without redirects.
    browser: reqwest::Client,
}

/// What the callback answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

/// A client ID no other test uses.
fn unique_id(port: u16) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("steward-{port}-{nanos}")
}

impl Social {
    /// Steward with `[modules.oauth.connections.google]` on the OIDC
    /// provider, and `extra` configuration.
    async fn google(backend: Backend, extra: &str) -> Self {
        Self::spawn(backend, |client_id| {
            format!(
                "[modules.oauth.connections.google]\nenabled = true\nclient_id = \"{client_id}\"\nclient_secret = \"{SECRET}\"\nissuer = \"{}\"\n{extra}",
                oidc_provider().issuer
            )
        }, |client_id, callback| oidc_provider().register_client(client_id, SECRET, callback))
        .await
    }

    /// Steward on a free port with the configuration `connection` gives
    /// for the client ID, once `register` registered it with the callback.
    async fn spawn(
        backend: Backend,
        connection: impl FnOnce(&str) -> String,
        register: impl FnOnce(&str, &str),
    ) -> Self {
        let port = free_port();
        let client_id = unique_id(port);
        let callback = format!("http://127.0.0.1:{port}/v1/oauth_callback");
        register(&client_id, &callback);
        let config = format!("{CONFIG}{}", connection(&client_id));
        let app = TestApp::spawn_public(backend, port, &config).await;
        Self {
            app,
            client_id,
            callback,
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Calls Steward's callback at the path and query of `location` (the
    /// provider's redirect).
    async fn callback(&self, location: &str) -> Answer {
        let url = url::Url::parse(location).unwrap();
        assert!(
            location.starts_with(&self.callback),
            "{location} is not the callback {}",
            self.callback
        );
        let target = format!(
            "{}{}?{}",
            self.app.frontend_url,
            url.path(),
            url.query().unwrap_or_default()
        );
        let response = self.browser.get(target).send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        Answer {
            status,
            location,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }
}

/// Starts a sign-in with `strategy` on `fapi`; returns its id and the
/// provider URL, after checking the verification's shape.
async fn start(fapi: &mut FapiClient<'_>, strategy: &str, redirect_url: &str) -> (String, String) {
    let (status, body) = fapi
        .post(
            "/v1/client/sign_ins",
            &[("strategy", strategy), ("redirect_url", redirect_url)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_in = &body["response"];
    let verification = &sign_in["first_factor_verification"];
    assert_eq!(verification["object"], "verification_oauth", "{body}");
    assert_eq!(verification["status"], "unverified", "{body}");
    assert_eq!(verification["strategy"], strategy, "{body}");
    let url = verification["external_verification_redirect_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a provider URL: {body}"))
        .to_owned();
    (sign_in["id"].as_str().unwrap().to_owned(), url)
}

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The sign-in `id` as `fapi` reads it.
async fn sign_in(fapi: &mut FapiClient<'_>, id: &str) -> Value {
    let (status, body) = fapi.get(&format!("/v1/client/sign_ins/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["response"].clone()
}

/// The signed-in user's id of a complete sign-in `id` on `fapi`.
async fn signed_in_user(fapi: &mut FapiClient<'_>, id: &str) -> String {
    let sign_in = sign_in(fapi, id).await;
    assert_eq!(sign_in["status"], "complete", "{sign_in}");
    let session_id = sign_in["created_session_id"].as_str().unwrap().to_owned();
    let (status, client) = fapi.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let session = client["response"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == session_id.as_str())
        .unwrap_or_else(|| panic!("session {session_id} on the client: {client}"))
        .clone();
    session["user"]["id"].as_str().unwrap().to_owned()
}

/// Expects sign-in `id` failed with `code`.
async fn failed_with(fapi: &mut FapiClient<'_>, id: &str, code: &str) {
    let sign_in = sign_in(fapi, id).await;
    assert_ne!(sign_in["status"], "complete", "{sign_in}");
    assert!(sign_in["created_session_id"].is_null(), "{sign_in}");
    let verification = &sign_in["first_factor_verification"];
    assert_eq!(verification["status"], "failed", "{sign_in}");
    assert_eq!(verification["error"]["code"], code, "{sign_in}");
}

/// A whole web sign-in as `account`: start, provider, callback. Returns
/// the sign-in id and what the callback answered.
async fn web_round(social: &Social, fapi: &mut FapiClient<'_>, account: &str) -> (String, Answer) {
    let (id, url) = start(fapi, "oauth_google", REDIRECT_URL).await;
    let location = login_over_http(&url, account).await;
    (id, social.callback(&location).await)
}

/// The user `id` by the Backend API.
async fn user(app: &TestApp, id: &str) -> Value {
    let (status, user) = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user
}

async fn a_web_sign_in_creates_the_user_once_and_keeps_the_token(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let users_before = app.user_count().await;
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, "oauth_google", REDIRECT_URL).await;
    assert!(
        url.starts_with(&format!("{}/auth?", oidc_provider().issuer)),
        "{url}"
    );
    assert_eq!(
        param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(social.client_id.as_str())
    );
    assert_eq!(
        param(&url, "redirect_uri").as_deref(),
        Some(social.callback.as_str())
    );
    for name in ["state", "nonce", "code_challenge"] {
        assert!(
            param(&url, name).is_some_and(|v| !v.is_empty()),
            "{name}: {url}"
        );
    }

    let location = login_over_http(&url, ALICE.id).await;
    let answer = social.callback(&location).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL));
    let user_id = signed_in_user(&mut fapi, &id).await;
    assert_eq!(app.user_count().await, users_before + 1);
    let (_, client) = fapi.get("/v1/client").await;
    assert_eq!(
        client["response"]["last_authentication_strategy"], "oauth_google",
        "{client}"
    );

    let user = user(app, &user_id).await;
    let account = &user["external_accounts"][0];
    assert_eq!(account["provider"], "oauth_google", "{user}");
    assert_eq!(account["provider_user_id"], ALICE.id, "{user}");
    assert_eq!(account["email_address"], ALICE.email, "{user}");
    assert_eq!(account["verification"]["status"], "verified", "{user}");
    assert_eq!(user["email_addresses"][0]["email_address"], ALICE.email);

    let (status, tokens) = app
        .get(&format!(
            "/v1/users/{user_id}/oauth_access_tokens/oauth_google?paginated=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["total_count"], 1, "{tokens}");
    let token = &tokens["data"][0];
    assert_eq!(token["object"], "oauth_access_token", "{tokens}");
    assert!(
        token["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{tokens}"
    );
    assert_eq!(token["provider"], "oauth_google", "{tokens}");
    let (status, bare) = app
        .get(&format!(
            "/v1/users/{user_id}/oauth_access_tokens/oauth_google"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{bare}");
    assert_eq!(bare.as_array().map(Vec::len), Some(1), "{bare}");

    // A second sign-in, in another browser, is the same user.
    let mut other = FapiClient::web(app);
    let (id, answer) = web_round(&social, &mut other, ALICE.id).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(signed_in_user(&mut other, &id).await, user_id);
    assert_eq!(app.user_count().await, users_before + 1);
    let user = self::user(app, &user_id).await;
    assert_eq!(
        user["external_accounts"].as_array().unwrap().len(),
        1,
        "{user}"
    );
}

async fn a_verified_email_links_an_unverified_one_is_refused(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let (status, existing) = app
        .post(
            "/v1/users",
            json!({"email_address": [ALICE.email], "password": crate::common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{existing}");
    let users_before = app.user_count().await;
    let mut fapi = FapiClient::web(app);
    let (id, answer) = web_round(&social, &mut fapi, ALICE.id).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(
        signed_in_user(&mut fapi, &id).await,
        existing["id"].as_str().unwrap()
    );
    assert_eq!(app.user_count().await, users_before);
    let user = user(app, existing["id"].as_str().unwrap()).await;
    assert_eq!(
        user["external_accounts"][0]["provider"], "oauth_google",
        "{user}"
    );

    // Mallory's provider does not vouch for her address: someone else's
    // account with it is not hers to take.
    let (status, victim) = app
        .post(
            "/v1/users",
            json!({"email_address": [MALLORY.email], "password": crate::common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{victim}");
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, "oauth_google", REDIRECT_URL).await;
    let location = login_over_http(&url, MALLORY.id).await;
    let before = app.settled_row_counts().await;
    let answer = social.callback(&location).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL));
    app.assert_rows_unchanged(&before, "an unverified collision")
        .await;
    failed_with(&mut fapi, &id, "oauth_identification_claimed").await;
    let victim = self::user(app, victim["id"].as_str().unwrap()).await;
    assert_eq!(
        victim["external_accounts"].as_array().map(Vec::len),
        Some(0),
        "{victim}"
    );
}
