//! Backend API users: behaviour and bad input, on SQLite and PostgreSQL;
//! listing is in `lists`, password checks in `passwords`.

use crate::common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    create_get_and_shapes,
    create_rejects_bad_input_without_writing,
    nul_characters_are_refused,
    update_fields_and_conflicts,
    metadata_merge_and_limits,
    delete_and_unknown_ids,
    ban_lock_and_their_reverse,
    authentication_is_required,
);

mod lists;
mod passwords;

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, user) = app.post("/v1/users", body).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user
}

async fn create_get_and_shapes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create(
        &app,
        json!({
            "email_address": ["Ada@Example.com"],
            "username": "Ada_Lovelace",
            "password": "correct horse battery",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "external_id": "ext-1",
            "public_metadata": {"plan": "pro"},
            "private_metadata": {"note": 1},
            "unsafe_metadata": {"theme": "dark"},
            "created_at": "2024-01-31T12:00:00Z"
        }),
    )
    .await;
    let id = user["id"].as_str().unwrap();
    assert!(id.starts_with("user_") && id.len() == 32, "{id}");
    assert_eq!(user["object"], "user");
    assert_eq!(user["username"], "ada_lovelace");
    assert_eq!(user["password_enabled"], true);
    assert_eq!(user["created_at"], 1_706_702_400_000_i64);
    assert_eq!(user["public_metadata"], json!({"plan": "pro"}));
    let email = &user["email_addresses"][0];
    assert_eq!(email["object"], "email_address");
    assert_eq!(email["email_address"], "ada@example.com");
    assert!(email["id"].as_str().unwrap().starts_with("idn_"));
    assert_eq!(email["verification"]["status"], "verified");
    assert_eq!(user["primary_email_address_id"], email["id"]);
    for field in [
        "phone_numbers",
        "web3_wallets",
        "external_accounts",
        "saml_accounts",
    ] {
        assert_eq!(user[field], json!([]), "{field}");
    }
    assert!(user["updated_at"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(
        user.get("password_digest").is_none(),
        "no digest in responses"
    );

    let (status, fetched) = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, user);

    // Username-only users are allowed when email is not required.
    let app2 = TestApp::spawn_with(backend, "[auth]\nemail_address_required = false\n").await;
    let user = create(
        &app2,
        json!({"username": "only_name", "password": "long enough"}),
    )
    .await;
    assert_eq!(user["email_addresses"], json!([]));
    assert_eq!(user["primary_email_address_id"], Value::Null);
}

async fn create_rejects_bad_input_without_writing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(
        &app,
        json!({"email_address": ["taken@example.com"], "username": "taken", "external_id": "x1", "password": "long enough"}),
    )
    .await;
    let malformed = app
        .send(
            app.bapi(Method::POST, "/v1/users")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_error(
        &malformed,
        StatusCode::BAD_REQUEST,
        "malformed_request_body",
    );

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"email_address": "a@example.com", "password": "long enough"}),
            "form_param_format_invalid",
            "email_address",
        ),
        (
            json!({"email_address": ["a@example.com"], "password": 12345678}),
            "form_param_format_invalid",
            "password",
        ),
        (
            json!({"email_address": ["TAKEN@example.com"], "password": "long enough"}),
            "form_identifier_exists",
            "email_address",
        ),
        (
            json!({"email_address": ["n@example.com"], "username": "TAKEN", "password": "long enough"}),
            "form_identifier_exists",
            "username",
        ),
        (
            json!({"email_address": ["n@example.com"], "external_id": "x1", "password": "long enough"}),
            "form_identifier_exists",
            "external_id",
        ),
        (
            json!({"email_address": ["not-an-email"], "password": "long enough"}),
            "form_param_format_invalid",
            "email_address",
        ),
        (
            json!({"password": "long enough"}),
            "form_param_missing",
            "email_address",
        ),
        (
            json!({"email_address": ["n@example.com"]}),
            "form_param_missing",
            "password",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "short"}),
            "form_password_length_too_short",
            "password",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "x".repeat(73)}),
            "form_password_length_too_long",
            "password",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "first_name": "x".repeat(257)}),
            "form_param_max_length_exceeded",
            "first_name",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "username": "a b c d"}),
            "form_username_invalid_character",
            "username",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "username": "abc"}),
            "form_username_invalid_length",
            "username",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "public_metadata": [1]}),
            "form_param_format_invalid",
            "public_metadata",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "public_metadata": {"big": "x".repeat(9000)}}),
            "form_param_value_invalid",
            "public_metadata",
        ),
        (
            json!({"email_address": ["n@example.com"], "password_digest": "abc", "password_hasher": "md5"}),
            "form_param_value_invalid",
            "password_hasher",
        ),
        (
            json!({"email_address": ["n@example.com"], "password_digest": "$2b$nonsense", "password_hasher": "bcrypt"}),
            "form_param_format_invalid",
            "password_digest",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "password_digest": "$2b$10$x", "password_hasher": "bcrypt"}),
            "form_param_value_invalid",
            "password_digest",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "phone_number": ["+15555550100"]}),
            "form_param_unknown",
            "phone_number",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "created_at": "yesterday"}),
            "form_param_format_invalid",
            "created_at",
        ),
        (
            json!({"email_address": ["n@example.com"], "password": "long enough", "locale": "en US!"}),
            "form_param_format_invalid",
            "locale",
        ),
    ];
    for (body, code, param) in cases {
        let response = app.post("/v1/users", body.clone()).await;
        let error = assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_eq!(error["meta"]["param_name"], param, "for {body}");
    }
    assert_eq!(app.user_count().await, 1, "no bad request wrote anything");

    // skip_password_requirement and skip_password_checks lift the policy.
    create(
        &app,
        json!({"email_address": ["nopw@example.com"], "skip_password_requirement": true}),
    )
    .await;
    create(&app, json!({"email_address": ["weak@example.com"], "password": "weak", "skip_password_checks": true})).await;
    assert_eq!(app.user_count().await, 3);
}

/// PostgreSQL's text cannot hold a NUL: bound to a query, one made a
/// server error there. Refused as bad input on every backend, in query
/// strings, JSON bodies and paths alike, and nothing is written.
async fn nul_characters_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (path, param) in [
        ("/v1/users?query=a%00", "query"),
        ("/v1/users?email_address=a%00b", "email_address"),
        ("/v1/users/count?organization_id[]=%00", "organization_id"),
        ("/v1/sessions?user_id=a%00", "user_id"),
        ("/v1/organization_roles?query=%00", "query"),
        ("/v1/organizations?query=x%00", "query"),
    ] {
        let response = app.get(path).await;
        let error = assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        );
        assert_eq!(error["meta"]["param_name"], param, "{path}");
    }
    let response = app
        .post("/v1/organizations", json!({"name": "a\u{0}b"}))
        .await;
    let error = assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    assert_eq!(error["meta"]["param_name"], "name");
    let response = app
        .post(
            "/v1/users",
            json!({"email_address": ["x@example.com"], "public_metadata": {"k": ["a\u{0}"]}}),
        )
        .await;
    let error = assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    assert_eq!(error["meta"]["param_name"], "public_metadata.k[0]");
    assert_error(
        &app.get("/v1/organizations/a%00").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let (_, orgs) = app.get("/v1/organizations").await;
    assert_eq!(orgs["total_count"], 0, "nothing was written");
    assert_eq!(app.user_count().await, 0);
}

async fn update_fields_and_conflicts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&app, json!({"email_address": ["other@example.com"], "username": "other", "password": "long enough"})).await;
    let user = create(
        &app,
        json!({"email_address": ["me@example.com", "alt@example.com"], "username": "myself", "first_name": "Me", "password": "long enough"}),
    )
    .await;
    let path = format!("/v1/users/{}", user["id"].as_str().unwrap());
    let alt_id = user["email_addresses"][1]["id"].clone();
    let (status, updated) = app
        .patch(
            &path,
            json!({"first_name": "New", "last_name": null, "username": "renamed", "primary_email_address_id": alt_id, "public_metadata": {"replaced": true}, "external_id": "e-9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["first_name"], "New");
    assert_eq!(updated["last_name"], Value::Null);
    assert_eq!(updated["username"], "renamed");
    assert_eq!(updated["external_id"], "e-9");
    assert_eq!(updated["primary_email_address_id"], alt_id);
    assert_eq!(updated["public_metadata"], json!({"replaced": true}));
    assert!(updated["updated_at"].as_i64() >= user["updated_at"].as_i64());

    let conflict = app.patch(&path, json!({"username": "OTHER"})).await;
    assert_error(
        &conflict,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_exists",
    );
    let foreign = app
        .patch(
            &path,
            json!({"primary_email_address_id": "idn_doesnotexist"}),
        )
        .await;
    assert_error(
        &foreign,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let wrong_type = app.patch(&path, json!({"first_name": ["x"]})).await;
    assert_error(
        &wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    let (_, unchanged) = app.get(&path).await;
    assert_eq!(
        unchanged["username"], "renamed",
        "failed updates change nothing"
    );
    assert_eq!(unchanged["first_name"], "New");

    let (status, with_password) = app
        .patch(&path, json!({"password": "a new password"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(with_password["password_last_updated_at"].is_i64());
    let (status, _) = app
        .post(
            &format!("{path}/verify_password"),
            json!({"password": "a new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn metadata_merge_and_limits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create(
        &app,
        json!({"email_address": ["m@example.com"], "password": "long enough", "public_metadata": {"a": 1, "nested": {"x": 1, "y": 2}}, "private_metadata": {"keep": true}}),
    )
    .await;
    let path = format!("/v1/users/{}/metadata", user["id"].as_str().unwrap());
    let (status, merged) = app
        .patch(&path, json!({"public_metadata": {"nested": {"y": null, "z": 3}, "a": null, "b": "new"}, "unsafe_metadata": {"u": 1}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(
        merged["public_metadata"],
        json!({"nested": {"x": 1, "z": 3}, "b": "new"})
    );
    assert_eq!(merged["private_metadata"], json!({"keep": true}));
    assert_eq!(merged["unsafe_metadata"], json!({"u": 1}));

    let too_big = app
        .patch(&path, json!({"public_metadata": {"big": "x".repeat(9000)}}))
        .await;
    assert_error(
        &too_big,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let not_object = app.patch(&path, json!({"private_metadata": "text"})).await;
    assert_error(
        &not_object,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    let (_, after) = app
        .get(&format!("/v1/users/{}", user["id"].as_str().unwrap()))
        .await;
    assert_eq!(after["public_metadata"], merged["public_metadata"]);
}

async fn delete_and_unknown_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create(
        &app,
        json!({"email_address": ["gone@example.com"], "password": "long enough"}),
    )
    .await;
    let id = user["id"].as_str().unwrap();
    let (status, deleted) = app.delete(&format!("/v1/users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        deleted,
        json!({"object": "user", "id": id, "deleted": true})
    );
    assert_error(
        &app.get(&format!("/v1/users/{id}")).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.delete(&format!("/v1/users/{id}")).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.patch("/v1/users/user_unknown", json!({"first_name": "x"}))
            .await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.post("/v1/users/nope/ban", json!({})).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.get("/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    // The address is free again.
    create(
        &app,
        json!({"email_address": ["gone@example.com"], "password": "long enough"}),
    )
    .await;
}

async fn ban_lock_and_their_reverse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create(
        &app,
        json!({"email_address": ["b@example.com"], "password": "long enough"}),
    )
    .await;
    let path = format!("/v1/users/{}", user["id"].as_str().unwrap());
    assert_eq!(user["banned"], false);
    assert_eq!(user["locked"], false);
    let (_, banned) = app.post(&format!("{path}/ban"), json!({})).await;
    assert_eq!(banned["banned"], true);
    let (_, unbanned) = app.post(&format!("{path}/unban"), json!({})).await;
    assert_eq!(unbanned["banned"], false);
    let (_, locked) = app.post(&format!("{path}/lock"), json!({})).await;
    assert_eq!(locked["locked"], true);
    let remaining = locked["lockout_expires_in_seconds"].as_i64().unwrap();
    assert!(
        (3590..=3600).contains(&remaining),
        "default lockout is 1 h: {remaining}"
    );
    let (_, unlocked) = app.post(&format!("{path}/unlock"), json!({})).await;
    assert_eq!(unlocked["locked"], false);
    assert_eq!(unlocked["lockout_expires_in_seconds"], Value::Null);
}

async fn authentication_is_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let missing = app
        .send(app.http.get(format!("{}/v1/users", app.backend_url)))
        .await;
    assert_error(
        &missing,
        StatusCode::UNAUTHORIZED,
        "authorization_header_format_invalid",
    );
    let wrong = app
        .send(
            app.http
                .get(format!("{}/v1/users", app.backend_url))
                .bearer_auth("sk_test_wrongwrongwrongwrongwrongwrong"),
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "clerk_key_invalid");
    let not_a_key = app
        .send(
            app.http
                .post(format!("{}/v1/users", app.backend_url))
                .bearer_auth("pk_test_abc")
                .json(&json!({})),
        )
        .await;
    assert_error(&not_a_key, StatusCode::UNAUTHORIZED, "clerk_key_invalid");
    assert_eq!(
        app.user_count().await,
        0,
        "unauthenticated writes did nothing"
    );

    // A generated key (stored only as a digest) works like the configured one.
    let state = app.state.clone();
    let generated = actix_web::rt::task::spawn_blocking(move || {
        steward::instance::create_secret_key(state.db.primary(), &state.instance)
    })
    .await
    .unwrap()
    .unwrap();
    let (status, body) = app
        .send(
            app.http
                .get(format!("{}/v1/users", app.backend_url))
                .bearer_auth(&generated),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}
