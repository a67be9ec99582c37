//! The GitHub preset against the GitHub mock, a custom OpenID Connect
//! provider added through the Backend API, and what `/v1/environment`
//! tells the UIs.

use reqwest::StatusCode;
use serde_json::json;

use super::{signed_in_user, start, user, Social, REDIRECT_URL, SECRET};
use crate::common::fapi::FapiClient;
use crate::common::oidc::{
    github_login_over_http, github_mock, login_over_http, oidc_provider, ALICE, GITHUB_BOB,
};
use crate::common::Backend;

on_every_backend!(
    the_github_preset_signs_in,
    a_custom_provider_added_by_the_backend_api_signs_in,
    the_environment_lists_the_connection,
);

async fn the_github_preset_signs_in(backend: Backend) {
    let github = github_mock();
    let social = Social::spawn(
        backend,
        |client_id| {
            format!(
                "[modules.oauth.connections.github]\nenabled = true\nclient_id = \"{client_id}\"\nclient_secret = \"{SECRET}\"\ngithub_web_url = \"{0}\"\ngithub_api_url = \"{0}\"\n",
                github.base_url
            )
        },
        |client_id, callback| github.register_client(client_id, SECRET, callback),
    )
    .await;
    let app = &social.app;
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, "oauth_github", REDIRECT_URL).await;
    assert!(url.starts_with(&github.authorize_url()), "{url}");
    let location = github_login_over_http(&url, GITHUB_BOB.login).await;
    let answer = social.callback(&location).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL));
    let user_id = signed_in_user(&mut fapi, &id).await;
    let user = user(app, &user_id).await;
    let account = &user["external_accounts"][0];
    assert_eq!(account["provider"], "oauth_github", "{user}");
    assert_eq!(
        account["provider_user_id"],
        GITHUB_BOB.id.to_string(),
        "{user}"
    );
    // Not public: read from /user/emails.
    assert_eq!(account["email_address"], GITHUB_BOB.primary_email, "{user}");
    assert_eq!(
        user["email_addresses"][0]["email_address"],
        GITHUB_BOB.primary_email
    );
}

async fn a_custom_provider_added_by_the_backend_api_signs_in(backend: Backend) {
    let provider = oidc_provider();
    let social = Social::spawn(
        backend,
        |_| String::new(),
        |client_id, callback| provider.register_client(client_id, SECRET, callback),
    )
    .await;
    let app = &social.app;
    let (status, created) = app
        .post(
            "/v1/oauth_connections",
            json!({
                "strategy": "oauth_custom_acme",
                "client_id": social.client_id,
                "client_secret": SECRET,
                "issuer": provider.issuer,
                "name": "Acme",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, "oauth_custom_acme", REDIRECT_URL).await;
    let location = login_over_http(&url, ALICE.id).await;
    let answer = social.callback(&location).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    let user_id = signed_in_user(&mut fapi, &id).await;
    let user = user(app, &user_id).await;
    assert_eq!(
        user["external_accounts"][0]["provider"], "oauth_custom_acme",
        "{user}"
    );
    assert_eq!(user["external_accounts"][0]["email_address"], ALICE.email);
}

async fn the_environment_lists_the_connection(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let environment: serde_json::Value = app
        .http
        .get(format!("{}/v1/environment", app.frontend_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let google = &environment["user_settings"]["social"]["oauth_google"];
    assert_eq!(google["enabled"], true, "{environment}");
    assert_eq!(google["authenticatable"], true, "{google}");
    assert_eq!(google["strategy"], "oauth_google", "{google}");
    assert!(
        google["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{google}"
    );
    assert_eq!(google["not_selectable"], false, "{google}");
}
