//! Connecting another provider to a signed-in user (`POST
//! /v1/me/external_accounts`) and disconnecting one (`DELETE`, never the
//! last way to sign in).

use reqwest::StatusCode;

use super::{web_round, Social, REDIRECT_URL};
use crate::common::fapi::FapiClient;
use crate::common::oidc::login_over_http;
use crate::common::{Backend, PASSWORD};

on_every_backend!(
    a_signed_in_user_connects_a_provider_account_once,
    the_last_way_to_sign_in_cannot_be_disconnected,
);

/// Starts connecting Google to `fapi`'s user; returns the provider URL.
async fn start_connect(fapi: &mut FapiClient<'_>) -> String {
    let (status, body) = fapi
        .post(
            "/v1/me/external_accounts",
            &[
                ("strategy", "oauth_google"),
                ("redirect_url", REDIRECT_URL),
                ("additional_scope", "offline_access"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let verification = &body["response"]["verification"];
    assert_eq!(verification["status"], "unverified", "{body}");
    let url = verification["external_verification_redirect_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.contains("offline_access"),
        "extra scope asked for: {url}"
    );
    url
}

async fn a_signed_in_user_connects_a_provider_account_once(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    crate::common::user(app, "first@example.com").await;
    let mut first = FapiClient::web(app);
    first.sign_in("first@example.com", PASSWORD).await;
    let url = start_connect(&mut first).await;
    let answer = social.callback(&login_over_http(&url, "bob").await).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL));
    let (_, me) = first.get("/v1/me").await;
    let accounts = me["response"]["external_accounts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(accounts.len(), 1, "{me}");
    assert_eq!(accounts[0]["provider"], "oauth_google");
    assert_eq!(accounts[0]["verification"]["status"], "verified");

    // The same provider account cannot be connected to someone else.
    crate::common::user(app, "second@example.com").await;
    let mut second = FapiClient::web(app);
    second.sign_in("second@example.com", PASSWORD).await;
    let url = start_connect(&mut second).await;
    let answer = social.callback(&login_over_http(&url, "bob").await).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    let (_, me) = second.get("/v1/me").await;
    assert_eq!(
        me["response"]["external_accounts"].as_array().map(Vec::len),
        Some(0),
        "{me}"
    );

    // Disconnecting it: the first user still has a password.
    let id = accounts[0]["id"].as_str().unwrap();
    let (status, body) = first
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/external_accounts/{id}"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["deleted"], true);
    let (_, me) = first.get("/v1/me").await;
    assert_eq!(
        me["response"]["external_accounts"].as_array().map(Vec::len),
        Some(0),
        "{me}"
    );
    // Someone else's account id is not found.
    let (status, _) = second
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/external_accounts/{id}"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_last_way_to_sign_in_cannot_be_disconnected(backend: Backend) {
    let social = Social::google(backend, "").await;
    // Mallory's provider does not vouch for her address: her new user has
    // no verified address and no password, only this account.
    let mut fapi = FapiClient::web(&social.app);
    let (_, answer) = web_round(&social, &mut fapi, "mallory").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    let (_, me) = fapi.get("/v1/me").await;
    let id = me["response"]["external_accounts"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an external account: {me}"))
        .to_owned();
    let (status, body) = fapi
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/me/external_accounts/{id}"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["errors"][0]["code"], "action_not_allowed");
    let (_, me) = fapi.get("/v1/me").await;
    assert_eq!(
        me["response"]["external_accounts"].as_array().map(Vec::len),
        Some(1)
    );
}
