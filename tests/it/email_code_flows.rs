//! Sign-up and sign-in with email codes delivered through a real SMTP
//! server (aiosmtpd): sign-up in the call order of Clerk's Android SDK and
//! in web mode, code sign-in, and the bad inputs (wrong, expired, reused
//! codes), on SQLite and PostgreSQL.

use crate::common::fapi::FapiClient;
use crate::common::smtp::{code_for, SmtpCapture};
use crate::common::{assert_error, Backend, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_every_backend!(
    native_sign_up_in_android_order,
    web_sign_up_and_bad_codes,
    sign_up_rejects_bad_fields_without_writing,
    sign_in_with_email_code,
);

async fn spawn(backend: Backend, smtp: &SmtpCapture) -> TestApp {
    let config = format!(
        "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n[email]\nsmtp_url = \"{}\"\n",
        smtp.url
    );
    TestApp::spawn_with(backend, &config).await
}

async fn native_sign_up_in_android_order(backend: Backend) {
    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    let mut phone = FapiClient::native(&app);

    let environment = app
        .http
        .get(format!("{}/v1/environment", app.frontend_url))
        .send()
        .await
        .unwrap();
    let environment: Value = environment.json().await.unwrap();
    assert_eq!(
        environment["user_settings"]["attributes"]["email_address"]["required"],
        true
    );
    assert_eq!(
        environment["display_config"]["show_last_used_badge"], true,
        "new instances show the badge"
    );
    let (_, client) = phone.get("/v1/client").await;
    assert_eq!(client["response"], Value::Null);

    let (status, body) = phone
        .post(
            "/v1/client/sign_ups",
            &[
                ("email_address", "new@example.com"),
                ("password", PASSWORD),
                ("first_name", "New"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_up = &body["response"];
    assert_eq!(sign_up["object"], "sign_up_attempt");
    assert_eq!(sign_up["status"], "missing_requirements");
    assert_eq!(sign_up["missing_fields"], json!([]));
    assert_eq!(sign_up["unverified_fields"], json!(["email_address"]));
    assert_eq!(
        sign_up["verifications"]["email_address"]["status"],
        "unverified"
    );
    assert!(
        phone.token.is_some(),
        "client JWT from the Authorization header"
    );
    let id = sign_up["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sua_"));
    assert_eq!(body["client"]["sign_up"]["id"], id.as_str());

    let (status, prepared) = phone
        .post(
            &format!("/v1/client/sign_ups/{id}/prepare_verification"),
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{prepared}");
    assert!(prepared["response"]["verifications"]["email_address"]["expire_at"].is_i64());
    let code = code_for(&smtp, "new@example.com");

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let incorrect = phone
        .post(
            &format!("/v1/client/sign_ups/{id}/attempt_verification"),
            &[("strategy", "email_code"), ("code", wrong)],
        )
        .await;
    assert_error(
        &incorrect,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_code_incorrect",
    );
    let (status, done) = phone
        .post(
            &format!("/v1/client/sign_ups/{id}/attempt_verification"),
            &[("strategy", "email_code"), ("code", code.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let sign_up = &done["response"];
    assert_eq!(sign_up["status"], "complete");
    let user_id = sign_up["created_user_id"].as_str().unwrap().to_owned();
    let session_id = sign_up["created_session_id"].as_str().unwrap().to_owned();
    assert_eq!(done["client"]["last_authentication_strategy"], "email_code");
    assert_eq!(done["client"]["sign_up"], Value::Null);

    let (status, token) = phone.token(&session_id).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let (status, touched) = phone
        .post(&format!("/v1/client/sessions/{session_id}/touch"), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{touched}");
    let (status, ended) = phone
        .post(&format!("/v1/client/sessions/{session_id}/end"), &[])
        .await;
    assert_eq!(
        (status, ended["response"]["status"].as_str()),
        (StatusCode::OK, Some("ended"))
    );

    let (_, user) = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(
        user["email_addresses"][0]["email_address"],
        "new@example.com"
    );
    assert_eq!(
        user["email_addresses"][0]["verification"]["status"],
        "verified"
    );
    assert_eq!(user["first_name"], "New");
    // The password chosen at sign-up signs in.
    phone.sign_in("new@example.com", PASSWORD).await;
}

async fn web_sign_up_and_bad_codes(backend: Backend) {
    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    let mut browser = FapiClient::web(&app);
    let (status, body) = browser
        .post(
            "/v1/client/sign_ups",
            &[
                ("email_address", "web@example.com"),
                ("password", PASSWORD),
                ("unsafe_metadata", "{\"theme\":\"dark\"}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["response"]["unsafe_metadata"],
        json!({"theme": "dark"})
    );
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let prepare = format!("/v1/client/sign_ups/{id}/prepare_verification");
    let attempt = format!("/v1/client/sign_ups/{id}/attempt_verification");

    assert_error(
        &browser
            .post(&attempt, &[("strategy", "email_code"), ("code", "123456")])
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
    );
    assert_error(
        &browser.post(&prepare, &[]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_missing",
    );
    assert_error(
        &browser.post(&prepare, &[("strategy", "phone_code")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (status, _) = browser.post(&prepare, &[("strategy", "email_code")]).await;
    assert_eq!(status, StatusCode::OK);
    let code = code_for(&smtp, "web@example.com");
    let too_soon = browser.post(&prepare, &[("strategy", "email_code")]).await;
    assert_error(
        &too_soon,
        StatusCode::TOO_MANY_REQUESTS,
        "verification_failed",
    );

    // Five wrong guesses void the code: even the right one fails after.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let response = browser
            .post(&attempt, &[("strategy", "email_code"), ("code", wrong)])
            .await;
        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_code_incorrect",
        );
    }
    let fifth = browser
        .post(&attempt, &[("strategy", "email_code"), ("code", wrong)])
        .await;
    assert_error(&fifth, StatusCode::TOO_MANY_REQUESTS, "verification_failed");
    let right = browser
        .post(
            &attempt,
            &[("strategy", "email_code"), ("code", code.as_str())],
        )
        .await;
    assert_error(&right, StatusCode::TOO_MANY_REQUESTS, "verification_failed");
    assert_eq!(
        app.user_count().await,
        0,
        "no user from a failed verification"
    );

    // Another browser cannot see or use this sign-up.
    let mut other = FapiClient::web(&app);
    assert_error(
        &other.get(&format!("/v1/client/sign_ups/{id}")).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &other
            .post(
                &attempt,
                &[("strategy", "email_code"), ("code", code.as_str())],
            )
            .await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
}

async fn sign_up_rejects_bad_fields_without_writing(backend: Backend) {
    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    app.post(
        "/v1/users",
        json!({"email_address": ["taken@example.com"], "username": "taken", "password": PASSWORD}),
    )
    .await;
    let mut phone = FapiClient::native(&app);
    phone.get("/v1/client").await;
    let before = app.settled_row_counts().await;
    for (form, code, param) in [
        (
            vec![
                ("email_address", "TAKEN@example.com"),
                ("password", PASSWORD),
            ],
            "form_identifier_exists",
            "email_address",
        ),
        (
            vec![
                ("email_address", "n@example.com"),
                ("username", "taken"),
                ("password", PASSWORD),
            ],
            "form_identifier_exists",
            "username",
        ),
        (
            vec![("email_address", "not an email"), ("password", PASSWORD)],
            "form_param_format_invalid",
            "email_address",
        ),
        (
            vec![("email_address", "n@example.com"), ("password", "short")],
            "form_password_length_too_short",
            "password",
        ),
        (
            vec![
                ("email_address", "n@example.com"),
                ("unsafe_metadata", "[1,2"),
            ],
            "form_param_format_invalid",
            "unsafe_metadata",
        ),
    ] {
        let response = phone.post("/v1/client/sign_ups", &form).await;
        let error = assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_eq!(error["meta"]["param_name"], param, "{form:?}");
    }
    app.assert_rows_unchanged(&before, "refused sign-ups").await;
    let (_, client) = phone.get("/v1/client").await;
    assert_eq!(
        client["response"]["sign_up"],
        Value::Null,
        "no sign-up stored"
    );

    // Missing requirements are reported, and completing one is refused
    // until they are given.
    let (status, body) = phone
        .post(
            "/v1/client/sign_ups",
            &[("email_address", "partial@example.com")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["missing_fields"], json!(["password"]));
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    phone
        .post(
            &format!("/v1/client/sign_ups/{id}/prepare_verification"),
            &[("strategy", "email_code")],
        )
        .await;
    let code = code_for(&smtp, "partial@example.com");
    let (status, verified) = phone
        .post(
            &format!("/v1/client/sign_ups/{id}/attempt_verification"),
            &[("strategy", "email_code"), ("code", code.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["response"]["status"], "missing_requirements");
    assert_eq!(verified["response"]["unverified_fields"], json!([]));
    let (status, patched) = phone
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/client/sign_ups/{id}"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["response"]["status"], "complete");
    assert!(patched["response"]["created_session_id"].is_string());
    assert_eq!(app.user_count().await, 2);
}

async fn sign_in_with_email_code(backend: Backend) {
    use diesel::prelude::*;
    use steward::db::schema::sign_ins;

    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    let (_, user) = app
        .post(
            "/v1/users",
            json!({"email_address": ["code@example.com", "alt@example.com"], "password": PASSWORD}),
        )
        .await;
    let mut phone = FapiClient::native(&app);
    let (_, body) = phone
        .post("/v1/client/sign_ins", &[("identifier", "code@example.com")])
        .await;
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let prepare = format!("/v1/client/sign_ins/{id}/prepare_first_factor");
    let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");

    let foreign = phone
        .post(
            &prepare,
            &[
                ("strategy", "email_code"),
                ("email_address_id", "idn_someone_else"),
            ],
        )
        .await;
    assert_error(
        &foreign,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let alt_id = user["email_addresses"][1]["id"].as_str().unwrap();
    let (status, prepared) = phone
        .post(
            &prepare,
            &[("strategy", "email_code"), ("email_address_id", alt_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{prepared}");
    assert_eq!(
        prepared["response"]["first_factor_verification"]["strategy"],
        "email_code"
    );
    assert_eq!(
        prepared["response"]["first_factor_verification"]["status"],
        "unverified"
    );
    let code = code_for(&smtp, "alt@example.com");

    // An expired code is refused, and so is a code after a new one was sent.
    let state = app.state.clone();
    let sign_in_id = id.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::update(sign_ins::table.find(&sign_in_id))
            .set((
                sign_ins::code_expire_at.eq(0_i64),
                sign_ins::code_last_sent_at.eq(0_i64),
            ))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let expired = phone
        .post(
            &attempt,
            &[("strategy", "email_code"), ("code", code.as_str())],
        )
        .await;
    assert_error(
        &expired,
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
    );

    let (status, _) = phone.post(&prepare, &[("strategy", "email_code")]).await;
    assert_eq!(status, StatusCode::OK);
    // The first code went to the other address: this one is the only message here.
    let fresh = code_for(&smtp, "code@example.com");
    let wrong = if fresh == "000000" {
        "111111"
    } else {
        "000000"
    };
    let incorrect = phone
        .post(&attempt, &[("strategy", "email_code"), ("code", wrong)])
        .await;
    assert_error(
        &incorrect,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_code_incorrect",
    );
    let (status, done) = phone
        .post(
            &attempt,
            &[("strategy", "email_code"), ("code", fresh.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["response"]["status"], "complete");
    assert_eq!(done["client"]["last_authentication_strategy"], "email_code");
    let reused = phone
        .post(
            &attempt,
            &[("strategy", "email_code"), ("code", fresh.as_str())],
        )
        .await;
    assert_error(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
    );
}
