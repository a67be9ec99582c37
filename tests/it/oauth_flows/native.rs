//! The Android SDK's order in native mode: create, prepare, the provider,
//! the callback to the app's scheme with the rotating nonce, the sign-in
//! read with it; and the transfer to a sign-up when a username is needed.

use reqwest::StatusCode;

use super::{param, signed_in_user, user, Social};
use crate::common::fapi::FapiClient;
use crate::common::oidc::{login_over_http, ALICE, BOB};
use crate::common::Backend;

on_every_backend!(
    the_android_order_completes_with_the_rotating_nonce,
    a_new_person_is_transferred_when_a_username_is_required,
);

/// The Android SDK's redirect URL.
const APP_CALLBACK: &str = "clerk://com.example.app.callback";

/// Create then prepare, as the SDK does; returns the sign-in id and the
/// provider URL of the prepare.
async fn create_and_prepare(device: &mut FapiClient<'_>) -> (String, String) {
    let (status, body) = device
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "oauth_google"), ("redirect_url", APP_CALLBACK)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let (status, body) = device
        .post(
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &[("strategy", "oauth_google"), ("redirect_url", APP_CALLBACK)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let verification = &body["response"]["first_factor_verification"];
    assert_eq!(verification["status"], "unverified", "{body}");
    let url = verification["external_verification_redirect_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a provider URL: {body}"))
        .to_owned();
    (id, url)
}

async fn the_android_order_completes_with_the_rotating_nonce(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let mut device = FapiClient::native(app);
    let (id, url) = create_and_prepare(&mut device).await;
    let location = login_over_http(&url, ALICE.id).await;
    let answer = social.callback(&location).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    let back = answer.location.unwrap();
    assert!(
        back.starts_with(&format!("{APP_CALLBACK}?rotating_token_nonce=")),
        "{back}"
    );
    let nonce = param(&back, "rotating_token_nonce").unwrap();

    let (status, body) = device
        .get(&format!(
            "/v1/client/sign_ins/{id}?rotating_token_nonce={nonce}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["status"], "complete", "{body}");
    let session_id = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, token) = device.token(&session_id).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let jwt = token["jwt"].as_str().unwrap_or_else(|| panic!("{token}"));
    let claims = crate::common::jwt_claims(jwt);
    assert_eq!(claims["sid"], session_id.as_str(), "{claims}");
    let user_id = signed_in_user(&mut device, &id).await;
    assert_eq!(claims["sub"], user_id.as_str(), "{claims}");

    // The nonce is used once.
    let (status, body) = device
        .get(&format!(
            "/v1/client/sign_ins/{id}?rotating_token_nonce={nonce}"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn a_new_person_is_transferred_when_a_username_is_required(backend: Backend) {
    let social = Social::google(backend, "[auth]\nusername_required = true\n").await;
    let app = &social.app;
    let users_before = app.user_count().await;
    let mut device = FapiClient::native(app);
    let (_id, url) = create_and_prepare(&mut device).await;
    let location = login_over_http(&url, BOB.id).await;
    let answer = social.callback(&location).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    let back = answer.location.unwrap();
    assert!(back.starts_with(APP_CALLBACK), "{back}");
    assert_eq!(
        param(&back, "__clerk_status").as_deref(),
        Some("failed"),
        "{back}"
    );
    assert_eq!(
        param(&back, "__clerk_error_code").as_deref(),
        Some("external_account_not_found"),
        "{back}"
    );
    assert_eq!(
        app.user_count().await,
        users_before,
        "no user before the sign-up"
    );

    let (status, body) = device
        .post(
            "/v1/client/sign_ups",
            &[("transfer", "true"), ("username", "bob_brown")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["status"], "complete", "{body}");
    let user_id = body["response"]["created_user_id"].as_str().unwrap();
    let user = user(app, user_id).await;
    assert_eq!(user["username"], "bob_brown", "{user}");
    let account = &user["external_accounts"][0];
    assert_eq!(account["provider"], "oauth_google", "{user}");
    assert_eq!(account["provider_user_id"], BOB.id, "{user}");
    assert_eq!(account["email_address"], BOB.email, "{user}");
    assert_eq!(app.user_count().await, users_before + 1);
}
