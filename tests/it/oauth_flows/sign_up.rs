//! Sign-up with a social strategy (`POST /v1/client/sign_ups
//! strategy=oauth_<provider>`), as clerk-js's `signUp.authenticateWithRedirect`
//! and the Android SDK's sign-up drive it.

use reqwest::StatusCode;

use super::{param, Social, REDIRECT_URL};
use crate::common::fapi::FapiClient;
use crate::common::oidc::login_over_http;
use crate::common::Backend;

on_every_backend!(
    a_web_sign_up_with_google_completes,
    a_native_sign_up_completes_with_the_nonce,
);

/// Starts a sign-up with Google; returns its id and the provider URL.
async fn start(fapi: &mut FapiClient<'_>, redirect_url: &str) -> (String, String) {
    let (status, body) = fapi
        .post(
            "/v1/client/sign_ups",
            &[("strategy", "oauth_google"), ("redirect_url", redirect_url)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_up = &body["response"];
    assert_eq!(sign_up["status"], "missing_requirements", "{body}");
    let verification = &sign_up["verifications"]["external_account"];
    assert_eq!(verification["object"], "verification_oauth", "{body}");
    assert_eq!(verification["status"], "unverified", "{body}");
    let url = verification["external_verification_redirect_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a provider URL: {body}"))
        .to_owned();
    (sign_up["id"].as_str().unwrap().to_owned(), url)
}

async fn a_web_sign_up_with_google_completes(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let users_before = app.user_count().await;
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, REDIRECT_URL).await;
    let answer = social.callback(&login_over_http(&url, "alice").await).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL));
    let (status, body) = fapi.get(&format!("/v1/client/sign_ups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_up = &body["response"];
    assert_eq!(sign_up["status"], "complete", "{body}");
    assert_eq!(
        sign_up["verifications"]["external_account"]["status"],
        "verified"
    );
    let user_id = sign_up["created_user_id"].as_str().unwrap();
    assert!(sign_up["created_session_id"].is_string());
    assert_eq!(app.user_count().await, users_before + 1);
    let (_, user) = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(
        user["external_accounts"][0]["provider"], "oauth_google",
        "{user}"
    );
    assert_eq!(
        body["client"]["last_authentication_strategy"],
        "oauth_google"
    );
}

async fn a_native_sign_up_completes_with_the_nonce(backend: Backend) {
    const APP: &str = "clerk://com.example.app.callback";
    let social = Social::google(backend, "").await;
    let mut device = FapiClient::native(&social.app);
    let (id, url) = start(&mut device, APP).await;
    let answer = social.callback(&login_over_http(&url, "bob").await).await;
    let location = answer.location.unwrap_or_default();
    assert!(location.starts_with(APP), "{location}");
    let nonce = param(&location, "rotating_token_nonce").expect("a nonce");
    let (status, body) = device
        .get(&format!(
            "/v1/client/sign_ups/{id}?rotating_token_nonce={nonce}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["status"], "complete", "{body}");
    let (status, _) = device
        .get(&format!(
            "/v1/client/sign_ups/{id}?rotating_token_nonce={nonce}"
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the nonce works once"
    );
}
