//! The sign-in around the ACS: a native app's completion with the
//! rotating nonce, the sign-up transfer for a new person the instance needs
//! a username from, a forged answer that must not spoil the genuine one,
//! the `redirect_url` rule, and what `/v1/environment` tells the UIs.

use reqwest::StatusCode;
use serde_json::json;

use super::{nothing_created, Sso, CONFIG, DOMAIN, REDIRECT_URL};
use crate::common::fapi::FapiClient;
use crate::common::saml_responses::TestIdp;
use crate::common::{Backend, TestApp};

on_every_backend!(
    a_native_app_completes_with_the_rotating_nonce_once,
    a_new_person_is_transferred_to_a_sign_up_when_a_username_is_required,
    a_forged_answer_does_not_spoil_the_genuine_one,
    redirect_urls_must_be_the_apps_own,
    the_environment_offers_enterprise_sso,
);

/// The Android SDK's redirect URL.
const APP_CALLBACK: &str = "clerk://com.example.app.callback";

async fn a_native_app_completes_with_the_rotating_nonce_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("nina@{DOMAIN}");
    let mut device = FapiClient::native(&app);
    // The Android SDK sends the email as `email_address`.
    let (status, body) = device
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "enterprise_sso"),
                ("email_address", email.as_str()),
                ("redirect_url", APP_CALLBACK),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_in_id = body["response"]["id"].as_str().unwrap().to_owned();
    let idp_url = body["response"]["first_factor_verification"]
        ["external_verification_redirect_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let request_id = url::Url::parse(&idp_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "RelayState")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let answer = sso
        .idp
        .response(&sso.sp_entity_id, &sso.acs_url, Some(&request_id), &email)
        .encoded();
    let posted = sso.post(&answer, Some(&request_id)).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
    let location = posted.location.unwrap();
    let nonce = location
        .strip_prefix(&format!("{APP_CALLBACK}?rotating_token_nonce="))
        .unwrap_or_else(|| panic!("a nonce on the app's callback: {location}"))
        .to_owned();

    let token_before = device.token.clone();
    let (status, body) = device
        .get(&format!(
            "/v1/client/sign_ins/{sign_in_id}?rotating_token_nonce={nonce}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["status"], "complete", "{body}");
    assert!(body["response"]["created_session_id"].is_string());
    // The app is handed a client token for its own client.
    let claims = crate::common::jwt_claims(device.token.as_deref().unwrap());
    let before = crate::common::jwt_claims(token_before.as_deref().unwrap());
    assert_eq!(claims["id"], before["id"]);
    assert_eq!(
        body["client"]["sessions"][0]["user"]["email_addresses"][0]["email_address"],
        email.as_str()
    );

    // The nonce works once, and only for its own sign-in.
    let (status, body) = device
        .get(&format!(
            "/v1/client/sign_ins/{sign_in_id}?rotating_token_nonce={nonce}"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["errors"][0]["meta"]["param_name"],
        "rotating_token_nonce"
    );
}

async fn a_new_person_is_transferred_to_a_sign_up_when_a_username_is_required(backend: Backend) {
    let config = format!("{CONFIG}[auth]\nusername_required = true\n");
    let app = TestApp::spawn_with(backend, &config).await;
    let (status, owner) = app
        .post(
            "/v1/users",
            json!({"email_address": ["owner@example.com"], "username": "owner", "password": crate::common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{owner}");
    let (status, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Acme", "created_by": owner["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    let org = org["id"].as_str().unwrap().to_owned();
    let sso = Sso::new(&app, json!({"organization_id": org})).await;
    let email = format!("tom@{DOMAIN}");
    let mut attempt = sso.start(&email).await;
    let answer = sso.answer(Some(&attempt), &email).encoded();
    let users_before = app.user_count().await;

    let posted = sso.post(&answer, Some(&attempt.request_id)).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
    assert_eq!(posted.location.as_deref(), Some(REDIRECT_URL));
    assert_eq!(
        app.user_count().await,
        users_before,
        "no user before the sign-up"
    );
    let sign_in = attempt.sign_in().await;
    let verification = &sign_in["first_factor_verification"];
    assert_eq!(verification["status"], "transferable", "{sign_in}");
    assert_eq!(verification["error"]["code"], "external_account_not_found");

    // What clerk-js does next: a sign-up with transfer=true.
    let (status, body) = attempt
        .fapi
        .post("/v1/client/sign_ups", &[("transfer", "true")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["errors"][0]["meta"]["param_name"], "username",
        "{body}"
    );
    let (status, body) = attempt
        .fapi
        .post(
            "/v1/client/sign_ups",
            &[("transfer", "true"), ("username", "tom_acme")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_up = &body["response"];
    assert_eq!(sign_up["status"], "complete", "{body}");
    let user_id = sign_up["created_user_id"].as_str().unwrap();
    let (_, user) = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(user["username"], "tom_acme", "{user}");
    assert_eq!(user["email_addresses"][0]["email_address"], email.as_str());
    assert_eq!(
        user["enterprise_accounts"][0]["enterprise_connection_id"],
        sso.id.as_str()
    );
    let (_, members) = app
        .get(&format!("/v1/organizations/{org}/memberships"))
        .await;
    assert!(
        members["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["public_user_data"]["user_id"] == user_id),
        "{members}"
    );

    // The identity is taken once.
    let (status, body) = attempt
        .fapi
        .post(
            "/v1/client/sign_ups",
            &[("transfer", "true"), ("username", "tom_two")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["errors"][0]["meta"]["param_name"], "transfer",
        "{body}"
    );

    // Next time the account exists: a plain sign-in.
    let mut again = sso.start(&email).await;
    let answer = sso.answer(Some(&again), &email).encoded();
    assert_eq!(sso.accepted(&mut again, &answer).await, user_id);
}

async fn a_forged_answer_does_not_spoil_the_genuine_one(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("gina@{DOMAIN}");
    let mut attempt = sso.start(&email).await;

    // Someone who learnt the RelayState posts an answer signed by another key…
    let stranger = TestIdp::new(super::IDP_ENTITY_ID);
    let forged = sso
        .answer(Some(&attempt), &email)
        .signed_by(&stranger)
        .encoded();
    let before = app.settled_row_counts().await;
    let posted = sso.post(&forged, Some(&attempt.request_id)).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
    nothing_created(&app, &before, "a forged answer", false).await;
    assert_eq!(
        attempt.sign_in().await["first_factor_verification"]["status"],
        "failed"
    );
    // …then the IdP's answer arrives: it still signs the person in.
    let genuine = sso.answer(Some(&attempt), &email).encoded();
    sso.accepted(&mut attempt, &genuine).await;
}

async fn redirect_urls_must_be_the_apps_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let _sso = Sso::new(&app, json!({})).await;
    let email = format!("rita@{DOMAIN}");
    let before = app.settled_row_counts().await;
    for redirect_url in [
        "https://evil.example.net/sso-callback",
        "javascript:alert(1)",
        "clerk://com.example.app.callback",
        "/relative",
    ] {
        let mut browser = FapiClient::web(&app);
        let (status, body) = browser
            .post(
                "/v1/client/sign_ins",
                &[
                    ("strategy", "enterprise_sso"),
                    ("identifier", email.as_str()),
                    ("redirect_url", redirect_url),
                ],
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{redirect_url}: {body}"
        );
        assert_eq!(body["errors"][0]["meta"]["param_name"], "redirect_url");
    }
    let mut browser = FapiClient::web(&app);
    let (status, body) = browser
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "enterprise_sso"),
                ("identifier", email.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "form_param_missing");
    // A domain no connection serves.
    let (status, body) = browser
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "enterprise_sso"),
                ("identifier", "rita@elsewhere.example.org"),
                ("redirect_url", REDIRECT_URL),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "form_identifier_not_found");
    let after = app.row_counts().await;
    assert_eq!(
        before.rows("primary", "saml_requests"),
        after.rows("primary", "saml_requests"),
        "no request recorded for a refused start"
    );
}

async fn the_environment_offers_enterprise_sso(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let environment: serde_json::Value = app
        .http
        .get(format!("{}/v1/environment", app.frontend_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        environment["user_settings"]["enterprise_sso"]["enabled"],
        true
    );
    assert_eq!(environment["user_settings"]["saml"]["enabled"], true);

    let off = TestApp::spawn_with(
        backend,
        &format!("{CONFIG}[modules.saml]\nenabled = false\n"),
    )
    .await;
    let environment: serde_json::Value = off
        .http
        .get(format!("{}/v1/environment", off.frontend_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        environment["user_settings"]["enterprise_sso"]["enabled"],
        false
    );
}
