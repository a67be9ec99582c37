//! Sign-in, sessions and session tokens over the Frontend API (native and
//! web), and the Backend API sessions and clients, on SQLite and PostgreSQL.

use crate::common::fapi::{FapiClient, APP_ORIGIN};
use crate::common::{assert_error, Backend, TestApp, PASSWORD};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    native_password_sign_in_token_and_reuse,
    two_step_sign_in_and_client_state,
    web_cookies_multi_session_and_sign_out,
    sign_in_errors_change_nothing,
    lockout_after_failed_passwords,
    revoked_ended_and_foreign_sessions_get_no_token,
    backend_sessions_and_clients,
    session_objects_follow_clerks_schema,
    sign_in_tokens_and_the_ticket_strategy,
    session_module_on_its_own_database,
    concurrent_fresh_tokens_share_session_reads,
    refused_session_requests_write_nothing,
);

const CONFIG: &str = "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n";

async fn user(app: &TestApp, email: &str) -> String {
    let (status, user) = app
        .post(
            "/v1/users",
            json!({"email_address": [email], "password": PASSWORD, "first_name": "Test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

/// Verifies a session token against the instance's JWKS and returns its claims.
async fn verify(app: &TestApp, jwt: &str) -> Value {
    let (_, jwks) = app.get("/v1/jwks").await;
    let header = decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("kid is published");
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
    decode::<Value>(jwt, &decoding, &validation)
        .expect("valid token")
        .claims
}

async fn native_password_sign_in_token_and_reuse(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "native@example.com").await;
    let mut phone = FapiClient::native(&app);
    let (status, body) = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "native@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        phone.token.is_some(),
        "the client JWT comes back in Authorization"
    );
    assert_eq!(body["response"]["object"], "sign_in_attempt");
    assert_eq!(body["response"]["status"], "complete");
    let session_id = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(session_id.starts_with("sess_"));
    assert_eq!(body["client"]["last_authentication_strategy"], "password");
    assert_eq!(body["client"]["sessions"][0]["id"], session_id.as_str());
    assert_eq!(
        body["client"]["sessions"][0]["user"]["id"],
        user_id.as_str()
    );
    assert!(body["client"]["sessions"][0]["user"]
        .get("private_metadata")
        .is_none());

    let client_token = phone.token.clone();
    let (status, token) = phone.token(&session_id).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["object"], "token", "tokens are not enveloped");
    assert_eq!(
        phone.token, client_token,
        "a client token that names the same client comes back as it is"
    );
    let jwt = token["jwt"].as_str().unwrap().to_owned();
    let claims = verify(&app, &jwt).await;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["sid"], session_id.as_str());
    assert_eq!(claims["iss"], app.state.settings.public_url().as_str());
    assert_eq!(claims["v"], 2);
    assert_eq!(claims["sts"], "active");
    assert_eq!(claims["fva"], json!([0, -1]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(
        claims["iat"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
        10
    );
    assert!(claims.get("azp").is_none(), "no Origin, no azp");

    let (_, again) = phone.token(&session_id).await;
    assert_eq!(
        again["jwt"].as_str(),
        Some(jwt.as_str()),
        "reuse window returns the same token"
    );
    // A native client token may come as `Bearer <token>`: the same client,
    // and the bare token comes back.
    let bare = phone.token.clone().unwrap();
    phone.token = Some(format!("Bearer {bare}"));
    let (status, bearer) = phone.token(&session_id).await;
    assert_eq!(status, StatusCode::OK, "{bearer}");
    assert_eq!(
        bearer["jwt"], again["jwt"],
        "the same client's reused token"
    );
    assert_eq!(phone.token.as_deref(), Some(bare.as_str()));
    let metrics = app.metrics().await;
    assert!(metrics.contains("steward_session_tokens_total{outcome=\"reused\"}"));
    phone.origin = Some(APP_ORIGIN.to_owned());
    let (_, with_origin) = phone.token(&session_id).await;
    assert_ne!(
        with_origin["jwt"], again["jwt"],
        "a claims change mints a new token"
    );
    assert_eq!(
        verify(&app, with_origin["jwt"].as_str().unwrap()).await["azp"],
        APP_ORIGIN
    );

    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        client["response"]["last_authentication_strategy"],
        "password"
    );
    // The client is both the response and the envelope's client; its
    // session carries the user without private metadata.
    assert_eq!(client["response"], client["client"]);
    let session = &client["response"]["sessions"][0];
    assert_eq!(session["id"], session_id.as_str());
    assert_eq!(session["user"]["id"], user_id.as_str());
    assert!(
        session["user"].get("private_metadata").is_none(),
        "{session}"
    );
    assert!(session["user"]["public_metadata"].is_object());
    assert_eq!(
        session["public_user_data"]["identifier"],
        session["user"]["email_addresses"][0]["email_address"]
    );
    let (_, fetched) = app.get(&format!("/v1/users/{user_id}")).await;
    assert!(fetched["last_sign_in_at"].is_i64());

    let (status, touched) = phone
        .post(
            &format!("/v1/client/sessions/{session_id}/touch"),
            &[("active_organization_id", "")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{touched}");
    assert_eq!(touched["response"]["status"], "active");
    let (status, ended) = phone
        .post(&format!("/v1/client/sessions/{session_id}/end"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended["response"]["status"], "ended");
    assert_eq!(ended["client"]["sessions"], json!([]));
    assert_error(
        &phone.token(&session_id).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
}

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

async fn web_cookies_multi_session_and_sign_out(backend: Backend) {
    let config = format!("{CONFIG}[session]\nmulti_session = true\n");
    let app = TestApp::spawn_with(backend, &config).await;
    user(&app, "first@example.com").await;
    user(&app, "second@example.com").await;
    let mut browser = FapiClient::web(&app);
    let (_, empty) = browser.get("/v1/client").await;
    assert_eq!(empty, json!({"response": null, "client": null}));
    let first = browser.sign_in("first@example.com", PASSWORD).await;
    assert!(browser.token.is_some(), "__client cookie set");
    let (_, before) = browser.get("/v1/client").await;
    let second = browser.sign_in("second@example.com", PASSWORD).await;
    let (_, client) = browser.get("/v1/client").await;
    assert_eq!(
        client["response"]["id"], before["response"]["id"],
        "same client"
    );
    assert_eq!(
        client["response"]["sessions"].as_array().unwrap().len(),
        2,
        "multi-session keeps both"
    );
    assert_eq!(
        client["response"]["last_active_session_id"],
        second.as_str()
    );
    assert_eq!(browser.token(&first).await.0, StatusCode::OK);

    // Method override, as clerk-js sends DELETE.
    let (status, _) = browser
        .post(&format!("/v1/client/sessions/{first}/remove"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, client) = browser.get("/v1/client").await;
    assert_eq!(client["response"]["sessions"].as_array().unwrap().len(), 1);
    let (status, signed_out) = browser
        .post("/v1/client/sessions?_method=DELETE", &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{signed_out}");
    assert_eq!(signed_out["response"]["sessions"], json!([]));
    assert_error(
        &browser.token(&second).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );

    // Single-session mode replaces the active session instead.
    let single = TestApp::spawn_with(backend, CONFIG).await;
    user(&single, "solo@example.com").await;
    let mut browser = FapiClient::web(&single);
    let old = browser.sign_in("solo@example.com", PASSWORD).await;
    let new = browser.sign_in("solo@example.com", PASSWORD).await;
    assert_ne!(old, new);
    let (_, session) = single.get(&format!("/v1/sessions/{old}")).await;
    assert_eq!(session["status"], "replaced");
    let (status, _) = browser.call(Method::DELETE, "/v1/client", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(browser.token, None, "the cookie is cleared");
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

async fn revoked_ended_and_foreign_sessions_get_no_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "rev@example.com").await;
    user(&app, "other@example.com").await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("rev@example.com", PASSWORD).await;
    let mut other = FapiClient::native(&app);
    other.sign_in("other@example.com", PASSWORD).await;
    assert_error(
        &other.token(&session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    assert_error(
        &phone.token("sess_unknown").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );

    let (status, revoked) = app
        .post(&format!("/v1/sessions/{session}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert_error(
        &phone.token(&session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );

    // An expired session gets no token, whatever its stored status.
    let expiring = phone.sign_in("rev@example.com", PASSWORD).await;
    let state = app.state.clone();
    let id = expiring.clone();
    actix_web::rt::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use steward::db::schema::sessions;
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::update(sessions::table.find(&id))
            .set((
                sessions::expire_at.eq(1_i64),
                sessions::updated_at.eq(2_i64),
            ))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    assert_error(
        &phone.token(&expiring).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    let (_, expired) = app.get(&format!("/v1/sessions/{expiring}")).await;
    assert_eq!(expired["status"], "expired");

    // An administrator's lock revokes sessions too.
    let locked_session = phone.sign_in("rev@example.com", PASSWORD).await;
    app.post(&format!("/v1/users/{user_id}/lock"), json!({}))
        .await;
    assert_error(
        &phone.token(&locked_session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    app.post(&format!("/v1/users/{user_id}/unlock"), json!({}))
        .await;

    // A ban revokes the user's sessions and refuses new sign-ins.
    let fresh = phone.sign_in("rev@example.com", PASSWORD).await;
    assert_eq!(phone.token(&fresh).await.0, StatusCode::OK);
    app.post(&format!("/v1/users/{user_id}/ban"), json!({}))
        .await;
    assert_error(
        &phone.token(&fresh).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    let banned = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "rev@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(&banned, StatusCode::FORBIDDEN, "user_banned");
}

/// The session object as Clerk's schema and SDK have it: the Backend API
/// form has `latest_activity` and no `factor_verification_age` (a Frontend
/// API field), in every response that carries one, revocation included.
async fn session_objects_follow_clerks_schema(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "schema@example.com").await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("schema@example.com", PASSWORD).await;
    let backend_form = |object: &Value| {
        assert_eq!(object["object"], "session", "{object}");
        assert!(object.get("factor_verification_age").is_none(), "{object}");
        let activity = &object["latest_activity"];
        assert_eq!(activity["object"], "session_activity", "{object}");
        assert!(activity["id"].is_string(), "{object}");
        assert_eq!(activity["is_mobile"], false, "{object}");
    };
    let (_, fetched) = app.get(&format!("/v1/sessions/{session}")).await;
    backend_form(&fetched);
    let (_, listed) = app.get(&format!("/v1/sessions?user_id={user_id}")).await;
    backend_form(&listed[0]);
    let (_, created) = app.post("/v1/sessions", json!({"user_id": user_id})).await;
    backend_form(&created);
    let client_id = fetched["client_id"].as_str().unwrap();
    let (_, client) = app.get(&format!("/v1/clients/{client_id}")).await;
    backend_form(&client["sessions"][0]);
    let (_, client) = phone.get("/v1/client").await;
    let frontend = &client["response"]["sessions"][0];
    assert_eq!(
        frontend["factor_verification_age"],
        json!([0, -1]),
        "{client}"
    );
    assert_eq!(frontend["latest_activity"]["object"], "session_activity");
    let (status, revoked) = app
        .post(&format!("/v1/sessions/{session}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    backend_form(&revoked);

    let (_, instance) = app.get("/v1/instance").await;
    assert_eq!(instance["object"], "instance");
    assert!(
        instance.get("workspace_id").is_some_and(Value::is_null),
        "workspace_id is required and null: {instance}"
    );
}

async fn backend_sessions_and_clients(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "bapi@example.com").await;
    let mut phone = FapiClient::native(&app);
    let signed_in = phone.sign_in("bapi@example.com", PASSWORD).await;
    let (status, created) = app.post("/v1/sessions", json!({"user_id": user_id})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["object"], "session");
    let created_id = created["id"].as_str().unwrap();

    let (_, list) = app.get(&format!("/v1/sessions?user_id={user_id}")).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, page) = app
        .get(&format!(
            "/v1/sessions?user_id={user_id}&paginated=true&limit=1"
        ))
        .await;
    assert_eq!(page["total_count"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let (_, active) = app
        .get(&format!("/v1/sessions?user_id={user_id}&status=active"))
        .await;
    assert_eq!(active.as_array().unwrap().len(), 2);
    let (_, fetched) = app.get(&format!("/v1/sessions/{signed_in}")).await;
    assert_eq!(fetched["user_id"], user_id.as_str());

    let (status, token) = app
        .post(
            &format!("/v1/sessions/{created_id}/tokens"),
            json!({"expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let claims = verify(&app, token["jwt"].as_str().unwrap()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );

    let client_id = fetched["client_id"].as_str().unwrap();
    let (_, client) = app.get(&format!("/v1/clients/{client_id}")).await;
    assert_eq!(client["object"], "client");
    assert_eq!(client["last_authentication_strategy"], "password");
    assert_eq!(client["session_ids"], json!([signed_in]));
    let (_, clients) = app.get("/v1/clients?paginated=true").await;
    assert_eq!(clients["total_count"], 2);

    for (path, code) in [
        ("/v1/sessions", "form_param_missing"),
        (
            "/v1/sessions?user_id=x&status=sleeping",
            "form_param_value_invalid",
        ),
        ("/v1/sessions?user_id=x&limit=0", "form_param_value_invalid"),
    ] {
        assert_error(&app.get(path).await, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    assert_error(
        &app.get("/v1/sessions/sess_nope").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.get("/v1/clients/client_nope").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.post(
            "/v1/sessions",
            json!({"user_id": "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.post(
            &format!("/v1/sessions/{created_id}/tokens"),
            json!({"expires_in_seconds": 5}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
}

async fn sign_in_tokens_and_the_ticket_strategy(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "ticket@example.com").await;
    let (status, created) = app
        .post(
            "/v1/sign_in_tokens",
            json!({"user_id": user_id, "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["object"], "sign_in_token");
    assert_eq!(created["status"], "pending");
    let ticket = created["token"].as_str().unwrap().to_owned();

    let mut phone = FapiClient::native(&app);
    let (status, body) = phone
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", ticket.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["status"], "complete");
    assert_eq!(body["client"]["last_authentication_strategy"], "ticket");
    let reused = phone
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", ticket.as_str())],
        )
        .await;
    assert_error(&reused, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");
    let accepted_revoke = app
        .post(
            &format!(
                "/v1/sign_in_tokens/{}/revoke",
                created["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_error(
        &accepted_revoke,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );

    let (_, second) = app
        .post("/v1/sign_in_tokens", json!({"user_id": user_id}))
        .await;
    let (status, revoked) = app
        .post(
            &format!(
                "/v1/sign_in_tokens/{}/revoke",
                second["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert!(
        revoked.get("token").is_none(),
        "the token is shown only once"
    );
    let refused = phone
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "ticket"),
                ("ticket", second["token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");
    for ticket in ["", "forged", &"x".repeat(300)] {
        let response = phone
            .post(
                "/v1/client/sign_ins",
                &[("strategy", "ticket"), ("ticket", ticket)],
            )
            .await;
        let code = if ticket.is_empty() {
            "form_param_missing"
        } else {
            "ticket_invalid"
        };
        assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    assert_error(
        &app.post("/v1/sign_in_tokens", json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_missing",
    );
    assert_error(
        &app.post(
            "/v1/sign_in_tokens",
            json!({"user_id": "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.post("/v1/sign_in_tokens/sit_nope/revoke", json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
}

/// With `database.modules.session.url`, clients and sessions live in their
/// own database; sign-in, tokens and organization claims still work.
async fn session_module_on_its_own_database(backend: Backend) {
    let app = TestApp::spawn_with_module_database(backend, "session", CONFIG).await;
    let user_id = user(&app, "isolated@example.com").await;
    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Isolated", "created_by": user_id}),
        )
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("isolated@example.com", PASSWORD).await;
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    let (status, token) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(
        verify(&app, token["jwt"].as_str().unwrap()).await["o"]["id"],
        org_id.as_str()
    );

    // A membership change made by the orgs module reaches the session database.
    app.patch(
        &format!("/v1/organizations/{org_id}/memberships/{user_id}"),
        json!({"role": "org:admin"}),
    )
    .await;
    let other = user(&app, "second-admin@example.com").await;
    app.post(
        &format!("/v1/organizations/{org_id}/memberships"),
        json!({"user_id": other, "role": "org:admin"}),
    )
    .await;
    app.delete(&format!("/v1/organizations/{org_id}/memberships/{user_id}"))
        .await;
    let (_, token) = phone.token(&session).await;
    assert!(verify(&app, token["jwt"].as_str().unwrap())
        .await
        .get("o")
        .is_none());

    let rows = app.row_counts().await;
    let (in_primary, in_session_db) = (
        rows.rows("primary", "sessions"),
        rows.rows("session", "sessions"),
    );
    assert_eq!(
        (in_primary, in_session_db),
        (0, 1),
        "sessions live in the session database only"
    );
}

/// With reuse off every token reads its session; reads that arrive while
/// one is in flight go together. Each caller must still get its own
/// session's answer: a token with its `sid`, 401 for a revoked session, 404
/// for an unknown one, also when a batch mixes them and repeats ids.
async fn concurrent_fresh_tokens_share_session_reads(backend: Backend) {
    let config = format!("{CONFIG}[session]\ntoken_reuse_seconds = 0\n");
    let app = TestApp::spawn_with(backend, &config).await;
    user(&app, "one@example.com").await;
    user(&app, "two@example.com").await;
    let mut one = FapiClient::native(&app);
    let first = one.sign_in("one@example.com", PASSWORD).await;
    let mut two = FapiClient::native(&app);
    let second = two.sign_in("two@example.com", PASSWORD).await;
    let mut three = FapiClient::native(&app);
    let revoked = three.sign_in("two@example.com", PASSWORD).await;
    let (status, _) = app
        .post(&format!("/v1/sessions/{revoked}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Over HTTP, all at once: each asks with its own client's token.
    let mut asks = Vec::new();
    for round in 0..6 {
        for (owner, session) in [(&one, &first), (&two, &second), (&three, &revoked)] {
            let mut caller = FapiClient::native(&app);
            caller.token = owner.token.clone();
            asks.push((caller, session.clone()));
        }
        let mut caller = FapiClient::native(&app);
        caller.token = one.token.clone();
        asks.push((caller, format!("sess_unknown{round}")));
    }
    let answers =
        futures_util::future::join_all(asks.iter_mut().map(|(caller, session)| async move {
            (session.clone(), caller.token(session).await)
        }))
        .await;
    for (session, (status, body)) in answers {
        if session == first || session == second {
            assert_eq!(status, StatusCode::OK, "{session}: {body}");
            let claims = verify(&app, body["jwt"].as_str().unwrap()).await;
            assert_eq!(claims["sid"], session.as_str());
        } else if session == revoked {
            assert_error(&(status, body), StatusCode::UNAUTHORIZED, "signed_out");
        } else {
            assert_error(&(status, body), StatusCode::NOT_FOUND, "resource_not_found");
        }
    }

    // Asked together on one thread, they are one read (five distinct ids:
    // on PostgreSQL an `IN` list padded to eight).
    let reads = &app.state.token_reads;
    let before = reads.reads();
    let ids = [
        &first,
        &second,
        &first,
        &revoked,
        &"sess_nothere".to_owned(),
        &"sess_gone".to_owned(),
    ];
    let rows = futures_util::future::join_all(ids.iter().map(|id| reads.find((*id).clone()))).await;
    assert_eq!(reads.reads(), before + 1);
    let found: Vec<Option<String>> = rows
        .into_iter()
        .map(|row| row.unwrap().map(|row| row.id))
        .collect();
    assert_eq!(
        found,
        [
            Some(first.clone()),
            Some(second.clone()),
            Some(first.clone()),
            Some(revoked.clone()),
            None,
            None
        ]
    );
}

/// Requests on sessions that are not the caller's, or that do not exist,
/// or that are malformed, are refused and write nothing.
async fn refused_session_requests_write_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    user(&app, "mine@example.com").await;
    user(&app, "theirs@example.com").await;
    let mut phone = FapiClient::native(&app);
    phone.sign_in("mine@example.com", PASSWORD).await;
    let mut other = FapiClient::native(&app);
    let theirs = other.sign_in("theirs@example.com", PASSWORD).await;
    let before = app.settled_row_counts().await;
    for path in [
        format!("/v1/client/sessions/{theirs}/touch"),
        format!("/v1/client/sessions/{theirs}/end"),
        format!("/v1/client/sessions/{theirs}/remove"),
        format!("/v1/client/sessions/{theirs}/tokens"),
        "/v1/client/sessions/sess_unknown/touch".to_owned(),
        "/v1/client/sessions/sess_unknown/end".to_owned(),
    ] {
        let (status, body) = phone.post(&path, &[]).await;
        assert!(status.is_client_error(), "{path}: {status} {body}");
        assert!(body["errors"][0]["code"].is_string(), "{path}: {body}");
    }
    for (path, body) in [
        ("/v1/sessions", json!({})),
        (
            "/v1/sessions",
            json!({"user_id": "user_2xxxxxxxxxxxxxxxxxxxxxxxxxx"}),
        ),
        ("/v1/sessions", json!({"user_id": 42})),
        ("/v1/sessions/sess_unknown/revoke", json!({})),
        ("/v1/sessions/sess_unknown/tokens", json!({})),
        (
            &format!("/v1/sessions/{theirs}/tokens") as &str,
            json!({"expires_in_seconds": "soon"}),
        ),
    ] {
        let (status, reply) = app.post(path, body).await;
        assert!(status.is_client_error(), "{path}: {status} {reply}");
        assert!(reply["errors"][0]["code"].is_string(), "{path}: {reply}");
    }
    app.assert_rows_unchanged(&before, "refused session requests")
        .await;
}
