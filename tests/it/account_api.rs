//! A signed-in user managing their account on the Frontend API (`/v1/me`),
//! with email verification through a real SMTP server, on SQLite and
//! PostgreSQL.

use crate::common::fapi::FapiClient;
use crate::common::smtp::{code_for, SmtpCapture};
use crate::common::{assert_error, Backend, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_every_backend!(
    profile_password_sessions_and_deletion,
    email_addresses_with_verification
);

async fn spawn(backend: Backend, smtp: &SmtpCapture) -> TestApp {
    let config = format!("[email]\nsmtp_url = \"{}\"\n", smtp.url);
    TestApp::spawn_with(backend, &config).await
}

async fn user(app: &TestApp, email: &str, username: &str) -> String {
    let (status, user) = app
        .post("/v1/users", json!({"email_address": [email], "username": username, "password": PASSWORD, "private_metadata": {"secret": 1}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

async fn profile_password_sessions_and_deletion(backend: Backend) {
    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    let user_id = user(&app, "me@example.com", "myself").await;
    user(&app, "other@example.com", "someone").await;
    let mut phone = FapiClient::native(&app);
    assert_error(
        &phone.get("/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    let session = phone.sign_in("me@example.com", PASSWORD).await;
    let mut laptop = FapiClient::native(&app);
    let other_session = laptop.sign_in("me@example.com", PASSWORD).await;

    let (status, me) = phone.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["response"]["id"], user_id.as_str());
    assert!(
        me["response"].get("private_metadata").is_none(),
        "private metadata stays private"
    );

    let (status, patched) = phone
        .call(
            Method::PATCH,
            "/v1/me",
            &[("first_name", "Ada"), ("username", "ada_l")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["response"]["first_name"], "Ada");
    assert_eq!(patched["response"]["username"], "ada_l");
    let taken = phone
        .call(Method::PATCH, "/v1/me", &[("username", "someone")])
        .await;
    assert_error(
        &taken,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_exists",
    );

    let (status, sessions) = phone.get("/v1/me/sessions/active").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sessions.as_array().unwrap().len(),
        2,
        "plain array of the user's sessions"
    );

    let wrong = phone
        .post(
            "/v1/me/change_password",
            &[
                ("current_password", "not it"),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_error(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_password_incorrect",
    );
    let weak = phone
        .post(
            "/v1/me/change_password",
            &[("current_password", PASSWORD), ("new_password", "short")],
        )
        .await;
    assert_error(
        &weak,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_password_length_too_short",
    );
    let (status, changed) = phone
        .post(
            "/v1/me/change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
                ("sign_out_of_other_sessions", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_error(
        &laptop.token(&other_session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    assert_eq!(
        phone.token(&session).await.0,
        StatusCode::OK,
        "the current session stays"
    );
    let old = laptop
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "me@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(
        &old,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_password_incorrect",
    );
    laptop
        .sign_in("me@example.com", "a brand new password")
        .await;

    app.patch(
        &format!("/v1/users/{user_id}"),
        json!({"delete_self_enabled": false}),
    )
    .await;
    assert_error(
        &phone.call(Method::DELETE, "/v1/me", &[]).await,
        StatusCode::FORBIDDEN,
        "action_not_allowed",
    );
    app.patch(
        &format!("/v1/users/{user_id}"),
        json!({"delete_self_enabled": true}),
    )
    .await;
    let (status, deleted) = phone.call(Method::DELETE, "/v1/me", &[]).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["response"]["deleted"], true);
    assert_error(
        &app.get(&format!("/v1/users/{user_id}")).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &phone.token(&session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
}

async fn email_addresses_with_verification(backend: Backend) {
    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    user(&app, "first@example.com", "emailer").await;
    user(&app, "taken@example.com", "taker").await;
    let mut phone = FapiClient::native(&app);
    phone.sign_in("first@example.com", PASSWORD).await;
    let (_, me) = phone.get("/v1/me").await;
    let first_id = me["response"]["email_addresses"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_error(
        &phone
            .post(
                "/v1/me/email_addresses",
                &[("email_address", "TAKEN@example.com")],
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_exists",
    );
    assert_error(
        &phone
            .post("/v1/me/email_addresses", &[("email_address", "nope")])
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    let (status, added) = phone
        .post(
            "/v1/me/email_addresses",
            &[("email_address", "Second@Example.com")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let email = &added["response"];
    assert_eq!(email["email_address"], "second@example.com");
    assert_eq!(email["verification"]["status"], "unverified");
    let second_id = email["id"].as_str().unwrap().to_owned();

    // An unverified address neither signs in nor becomes primary.
    let mut stranger = FapiClient::native(&app);
    let refused = stranger
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "second@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_not_found",
    );
    let not_primary = phone
        .call(
            Method::PATCH,
            "/v1/me",
            &[("primary_email_address_id", second_id.as_str())],
        )
        .await;
    assert_error(
        &not_primary,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );

    let prepare = format!("/v1/me/email_addresses/{second_id}/prepare_verification");
    let attempt = format!("/v1/me/email_addresses/{second_id}/attempt_verification");
    let (status, _) = phone.post(&prepare, &[("strategy", "email_code")]).await;
    assert_eq!(status, StatusCode::OK);
    let code = code_for(&smtp, "second@example.com");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_error(
        &phone
            .post(&attempt, &[("strategy", "email_code"), ("code", wrong)])
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_code_incorrect",
    );
    let (status, verified) = phone
        .post(
            &attempt,
            &[("strategy", "email_code"), ("code", code.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["response"]["verification"]["status"], "verified");
    assert_error(
        &phone
            .post(
                &attempt,
                &[("strategy", "email_code"), ("code", code.as_str())],
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
    );

    let (status, primary) = phone
        .call(
            Method::PATCH,
            "/v1/me",
            &[("primary_email_address_id", second_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{primary}");
    assert_eq!(
        primary["response"]["primary_email_address_id"],
        second_id.as_str()
    );
    assert_error(
        &phone
            .call(
                Method::DELETE,
                &format!("/v1/me/email_addresses/{second_id}"),
                &[],
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (status, deleted) = phone
        .call(
            Method::DELETE,
            &format!("/v1/me/email_addresses/{first_id}"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        deleted["response"],
        json!({"object": "email_address", "id": first_id, "deleted": true})
    );
    assert_error(
        &phone
            .get(&format!("/v1/me/email_addresses/{first_id}"))
            .await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    stranger.sign_in("second@example.com", PASSWORD).await;
    let (_, me) = phone.get("/v1/me").await;
    assert_eq!(
        me["response"]["email_addresses"].as_array().map(Vec::len),
        Some(1)
    );
}
