//! Signing in over the Frontend API: the two-step flow and the client it
//! leaves, refused attempts that change nothing, and the lockout after failed
//! passwords.

use super::*;

on_every_backend!(
    two_step_sign_in_and_client_state,
    sign_in_errors_change_nothing,
    lockout_after_failed_passwords,
);

async fn two_step_sign_in_and_client_state(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    user(&app, "two@example.com").await;
    let mut phone = FapiClient::native(&app);
    let (status, body) = phone
        .post("/v1/client/sign_ins", &[("identifier", "TWO@example.com")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_in = &body["response"];
    assert_eq!(sign_in["status"], "needs_first_factor");
    let strategies: Vec<&str> = sign_in["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["password", "email_code"]);
    assert_eq!(
        sign_in["supported_first_factors"][1]["safe_identifier"],
        "t***@example.com"
    );
    assert_eq!(body["client"]["sign_in"]["id"], sign_in["id"]);
    let id = sign_in["id"].as_str().unwrap().to_owned();
    let (_, fetched) = phone.get(&format!("/v1/client/sign_ins/{id}")).await;
    assert_eq!(fetched["response"]["status"], "needs_first_factor");
    let wrong = phone
        .post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "nope")],
        )
        .await;
    assert_error(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_password_incorrect",
    );
    let (status, done) = phone
        .post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["response"]["status"], "complete");
    assert_eq!(
        done["client"]["sign_in"],
        Value::Null,
        "a completed sign-in leaves the client"
    );
    let again = phone
        .post(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_error(
        &again,
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
    );
}

async fn sign_in_errors_change_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "err@example.com").await;
    let mut phone = FapiClient::native(&app);
    let unknown = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "nobody@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        assert_error(
            &unknown,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_not_found"
        )["meta"]["param_name"],
        "identifier"
    );
    let wrong = phone
        .post(
            "/v1/client/sign_ins",
            &[
                ("identifier", "err@example.com"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_error(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_password_incorrect",
    );
    let bad_strategy = phone
        .post("/v1/client/sign_ins", &[("strategy", "oauth_nothing")])
        .await;
    assert_error(
        &bad_strategy,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let long = "x".repeat(5000);
    let too_long = phone
        .post("/v1/client/sign_ins", &[("identifier", long.as_str())])
        .await;
    assert_error(
        &too_long,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_max_length_exceeded",
    );
    let (status, sessions) = app.get(&format!("/v1/sessions?user_id={user_id}")).await;
    assert_eq!(
        (status, sessions),
        (StatusCode::OK, json!([])),
        "no session from failed sign-ins"
    );

    // Browsers on the allowed origin get CORS with credentials; others none.
    let preflight = app
        .http
        .request(
            Method::OPTIONS,
            format!("{}/v1/client/sign_ins", app.frontend_url),
        )
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        APP_ORIGIN
    );
    assert_eq!(
        preflight.headers()["access-control-allow-credentials"],
        "true"
    );
    let foreign = app
        .http
        .get(format!("{}/v1/client", app.frontend_url))
        .header("origin", "http://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // A browser on a foreign origin changes nothing.
    let mut evil = FapiClient::web(&app);
    evil.origin = Some("http://evil.example.com".into());
    let refused = evil
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "err@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "origin_invalid");
    assert_eq!(evil.token, None);

    // A tampered or foreign token is a fresh client, never someone else's.
    let mut browser = FapiClient::web(&app);
    browser.sign_in("err@example.com", PASSWORD).await;
    let genuine = browser.token.clone().unwrap();
    let mut tampered = genuine.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    browser.token = Some(tampered);
    let (_, body) = browser.get("/v1/client").await;
    assert_eq!(body["response"], Value::Null);
    let mut forged_native = genuine.clone();
    forged_native.replace_range(forged_native.len() - 4.., "AAAA");
    phone.token = Some(forged_native);
    let (_, body) = phone.get("/v1/client").await;
    assert_eq!(
        body["response"],
        Value::Null,
        "a tampered native token is a new client"
    );
    phone.token = Some(genuine);
    let (_, body) = phone.get("/v1/client").await;
    assert_eq!(
        body["response"]["sessions"].as_array().unwrap().len(),
        1,
        "the genuine token still works natively"
    );

    let malformed = app
        .http
        .post(format!(
            "{}/v1/client/sign_ins?_is_native=1",
            app.frontend_url
        ))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

async fn lockout_after_failed_passwords(backend: Backend) {
    let config = format!("{CONFIG}[security.lockout]\nmax_attempts = 3\n");
    let app = TestApp::spawn_with(backend, &config).await;
    let user_id = user(&app, "lock@example.com").await;
    let mut phone = FapiClient::native(&app);
    for _ in 0..2 {
        let wrong = phone
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "lock@example.com"), ("password", "wrong")],
            )
            .await;
        assert_error(
            &wrong,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_password_incorrect",
        );
    }
    let third = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "lock@example.com"), ("password", "wrong")],
        )
        .await;
    let error = assert_error(&third, StatusCode::FORBIDDEN, "user_locked");
    assert!(
        error["meta"]["lockout_expires_in_seconds"]
            .as_i64()
            .unwrap()
            > 3500
    );
    let right = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "lock@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(&right, StatusCode::FORBIDDEN, "user_locked");
    let (_, locked) = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(locked["locked"], true);

    app.post(&format!("/v1/users/{user_id}/unlock"), json!({}))
        .await;
    phone.sign_in("lock@example.com", PASSWORD).await;
    let wrong = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "lock@example.com"), ("password", "wrong")],
        )
        .await;
    assert_error(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_password_incorrect",
    );
}
