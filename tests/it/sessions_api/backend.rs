//! The Backend API's sessions, clients and sign-in tokens (and the ticket
//! strategy they start): their objects against Clerk's schema, and refused
//! requests that write nothing.

use super::*;

on_every_backend!(
    session_objects_follow_clerks_schema,
    backend_sessions_and_clients,
    sign_in_tokens_and_the_ticket_strategy,
    refused_session_requests_write_nothing,
);

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
