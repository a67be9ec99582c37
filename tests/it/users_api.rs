//! Backend API users: behaviour and bad input, on SQLite and PostgreSQL.

use crate::common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    create_get_and_shapes,
    list_filters_order_and_paging,
    list_filters_the_spec_defines,
    create_rejects_bad_input_without_writing,
    list_rejects_bad_parameters,
    nul_characters_are_refused,
    update_fields_and_conflicts,
    metadata_merge_and_limits,
    delete_and_unknown_ids,
    ban_lock_and_their_reverse,
    verify_password_native_and_imported,
    imported_digests_above_the_cost_limits_are_refused,
    stored_digests_above_the_cost_limits_are_not_verified,
    a_burst_of_password_checks_beyond_the_queue_is_shed,
    authentication_is_required,
);

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

async fn list_filters_order_and_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let user = create(
            &app,
            json!({
                "email_address": [format!("{name}@example.com")],
                "username": format!("{name}_{i}"),
                "first_name": name.to_uppercase(),
                "external_id": format!("ext_{i}"),
                "password": "long enough pw",
            }),
        )
        .await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let listed = |body: &Value| -> Vec<String> {
        body.as_array()
            .expect("plain array")
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = app.get("/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed(&body), newest_first, "default order is -created_at");
    let (_, body) = app.get("/v1/users?order_by=%2Bcreated_at").await;
    assert_eq!(listed(&body), ids);
    let (_, body) = app.get("/v1/users?order_by=-username").await;
    assert_eq!(listed(&body), newest_first);
    let (_, body) = app
        .get("/v1/users?order_by=%2Bcreated_at&limit=1&offset=1")
        .await;
    assert_eq!(listed(&body), [ids[1].clone()]);
    let (_, body) = app.get("/v1/users?email_address=BOB@example.com").await;
    assert_eq!(listed(&body), [ids[1].clone()]);
    let (_, body) = app
        .get(&format!(
            "/v1/users?user_id={}&user_id={}&order_by=%2Bcreated_at",
            ids[0], ids[2]
        ))
        .await;
    assert_eq!(listed(&body), [ids[0].clone(), ids[2].clone()]);
    let (_, body) = app.get("/v1/users?external_id=ext_2").await;
    assert_eq!(listed(&body), [ids[2].clone()]);
    let (_, body) = app.get("/v1/users?username=carol_2").await;
    assert_eq!(listed(&body), [ids[2].clone()]);
    // `query` also matches user ids, which are random base62: a query
    // that an id could contain (like "ali") made this flaky. An
    // underscore never appears in an id.
    let (_, body) = app.get("/v1/users?query=alice_").await;
    assert_eq!(listed(&body), [ids[0].clone()]);
    let (_, body) = app.get("/v1/users?query=CAROL").await;
    assert_eq!(
        listed(&body),
        [ids[2].clone()],
        "query matches names case-insensitively"
    );
    let (_, body) = app.get("/v1/users?query=%25").await;
    assert_eq!(
        listed(&body),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    let (_, body) = app.get("/v1/users?phone_number=%2B15555550100").await;
    assert_eq!(listed(&body), Vec::<String>::new());

    assert_eq!(app.user_count().await, 3);
    let (_, body) = app.get("/v1/users/count?query=example.com").await;
    assert_eq!(body, json!({"object": "total_count", "total_count": 3}));
    let (_, body) = app
        .get("/v1/users/count?email_address=alice@example.com&email_address=bob@example.com")
        .await;
    assert_eq!(body["total_count"], 2);

    app.post(&format!("/v1/users/{}/ban", ids[1]), json!({}))
        .await;
    let (_, body) = app.get("/v1/users?banned=true").await;
    assert_eq!(listed(&body), [ids[1].clone()]);
}

/// The filters and orderings of Clerk's spec that the first version
/// ignored: organization members (with the orgs module on a database of
/// its own, so they can only come through its service), `+`/`-` lists, the
/// `starting_after` cursor, `email_address` ordering, and the pairs and
/// combinations the spec refuses.
async fn list_filters_the_spec_defines(backend: Backend) {
    let app = TestApp::spawn_with_module_database(backend, "orgs", "").await;
    let mut ids = Vec::new();
    for (name, email) in [
        ("dan_1", "zed@example.com"),
        ("eve_2", "amy@example.com"),
        ("fay_3", "mia@example.com"),
    ] {
        let user = create(
            &app,
            json!({"email_address": [email], "username": name, "external_id": format!("x_{name}"), "password": "long enough pw"}),
        )
        .await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let listed = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap_or_else(|| panic!("plain array: {body}"))
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Members", "created_by": ids[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    let org_id = org["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/v1/organizations/{org_id}/memberships"),
            json!({"user_id": ids[2], "role": "org:member"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, body) = app
        .get(&format!(
            "/v1/users?organization_id={org_id}&order_by=%2Bcreated_at"
        ))
        .await;
    assert_eq!(listed(&body), [ids[0].clone(), ids[2].clone()]);
    let (_, body) = app
        .get(&format!("/v1/users/count?organization_id={org_id}"))
        .await;
    assert_eq!(body["total_count"], 2, "{body}");
    let (_, body) = app
        .get(&format!("/v1/users?organization_id=-{org_id}"))
        .await;
    assert_eq!(listed(&body), [ids[1].clone()], "members left out");
    let (_, body) = app.get("/v1/users/count?organization_id=org_unknown").await;
    assert_eq!(body["total_count"], 0, "{body}");

    // `+` (escaped or not) includes, `-` excludes.
    let (_, body) = app
        .get(&format!(
            "/v1/users?user_id=%2B{}&user_id=-{}&user_id=+{}&order_by=%2Bcreated_at",
            ids[0], ids[1], ids[2]
        ))
        .await;
    assert_eq!(listed(&body), [ids[0].clone(), ids[2].clone()]);
    let (_, body) = app
        .get(&format!(
            "/v1/users?user_id=-{}&order_by=%2Bcreated_at",
            ids[0]
        ))
        .await;
    assert_eq!(listed(&body), [ids[1].clone(), ids[2].clone()]);
    let (_, body) = app.get("/v1/users/count?external_id=-x_dan_1").await;
    assert_eq!(body["total_count"], 2, "{body}");

    // Ordered by the primary address, not by creation or name.
    let (_, body) = app.get("/v1/users?order_by=email_address").await;
    assert_eq!(
        listed(&body),
        [ids[1].clone(), ids[2].clone(), ids[0].clone()]
    );
    let (_, body) = app.get("/v1/users?order_by=-email_address").await;
    assert_eq!(
        listed(&body),
        [ids[0].clone(), ids[2].clone(), ids[1].clone()]
    );
    let (status, _) = app.get("/v1/users?order_by=phone_number").await;
    assert_eq!(status, StatusCode::OK);

    // The cursor pages through creation order in either direction.
    let (_, body) = app
        .get(&format!("/v1/users?starting_after={}&limit=1", ids[2]))
        .await;
    assert_eq!(listed(&body), [ids[1].clone()], "newest first by default");
    let (_, body) = app
        .get(&format!(
            "/v1/users?starting_after={}&order_by=%2Bcreated_at",
            ids[0]
        ))
        .await;
    assert_eq!(listed(&body), [ids[1].clone(), ids[2].clone()]);

    // Filters on things no user has yet match nobody, never everybody.
    for query in [
        "phone_number_query=555",
        "web3_wallet=0xabc",
        "provider=oauth_google&provider_user_id=1",
    ] {
        let (status, body) = app.get(&format!("/v1/users?{query}")).await;
        assert_eq!(
            (status, listed(&body).len()),
            (StatusCode::OK, 0),
            "{query}"
        );
    }

    let cursor = format!("starting_after={}", ids[0]);
    for (query, param) in [
        (format!("{cursor}&order_by=username"), "starting_after"),
        (format!("{cursor}&offset=1"), "starting_after"),
        ("starting_after=user_unknown".to_owned(), "starting_after"),
        ("provider=oauth_google".to_owned(), "provider_user_id"),
        ("provider_user_id=1".to_owned(), "provider"),
    ] {
        let response = app.get(&format!("/v1/users?{query}")).await;
        assert_eq!(
            response.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            response.1
        );
        assert_eq!(
            response.1["errors"][0]["meta"]["param_name"], param,
            "{query}"
        );
    }
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

async fn list_rejects_bad_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (query, code, param) in [
        ("limit=0", "form_param_value_invalid", "limit"),
        ("limit=501", "form_param_value_invalid", "limit"),
        ("limit=ten", "form_param_format_invalid", "limit"),
        ("offset=-1", "form_param_value_invalid", "offset"),
        ("order_by=-password", "form_param_value_invalid", "order_by"),
        ("banned=maybe", "form_param_format_invalid", "banned"),
    ] {
        let response = app.get(&format!("/v1/users?{query}")).await;
        let error = assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_eq!(error["meta"]["param_name"], param, "{query}");
    }
    let (status, body) = app.get("/v1/users?limit=500").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
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

async fn verify_password_native_and_imported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let native = create(
        &app,
        json!({"email_address": ["n@example.com"], "password": "native password"}),
    )
    .await;
    let path = format!(
        "/v1/users/{}/verify_password",
        native["id"].as_str().unwrap()
    );
    let (status, body) = app
        .post(&path, json!({"password": "native password"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"verified": true})));
    assert_error(
        &app.post(&path, json!({"password": "wrong"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incorrect_password",
    );
    assert_error(
        &app.post(&path, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_missing",
    );

    // Digests imported from another system verify, and keep verifying after
    // Steward re-hashes them with Argon2id.
    let bcrypt_digest = bcrypt::hash("imported secret", 4).unwrap();
    let argon2i_digest = {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::default(),
        )
        .hash_password(b"password", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
    };
    for (digest, hasher, password) in [
        (bcrypt_digest.as_str(), "bcrypt", "imported secret"),
        (argon2i_digest.as_str(), "argon2i", "password"),
    ] {
        let user = create(
            &app,
            json!({"email_address": [format!("{hasher}@example.com")], "password_digest": digest, "password_hasher": hasher}),
        )
        .await;
        assert_eq!(user["password_enabled"], true);
        let path = format!("/v1/users/{}/verify_password", user["id"].as_str().unwrap());
        for _ in 0..2 {
            let (status, body) = app.post(&path, json!({"password": password})).await;
            assert_eq!(status, StatusCode::OK, "{hasher}: {body}");
        }
        assert_error(
            &app.post(&path, json!({"password": "nope"})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "incorrect_password",
        );
    }

    let no_password = create(
        &app,
        json!({"email_address": ["np@example.com"], "skip_password_requirement": true}),
    )
    .await;
    let path = format!(
        "/v1/users/{}/verify_password",
        no_password["id"].as_str().unwrap()
    );
    assert_error(
        &app.post(&path, json!({"password": "anything"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "password_not_set",
    );
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

/// Well-formed digests far above the default cost limits: bcrypt cost 31
/// and Argon2id with 4 GiB of memory.
const BCRYPT_COST_31: &str = "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
const ARGON2ID_4GIB: &str =
    "$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

async fn imported_digests_above_the_cost_limits_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create(
        &app,
        json!({"email_address": ["kept@example.com"], "password": "kept password"}),
    )
    .await;
    let user_path = format!("/v1/users/{}", user["id"].as_str().unwrap());
    let cases = [
        (BCRYPT_COST_31, "bcrypt", "bcrypt cost is 31"),
        (ARGON2ID_4GIB, "argon2id", "memory (m) cost is 4194304 KiB"),
        (
            &ARGON2ID_4GIB.replace("m=4194304,t=3", "m=19456,t=11"),
            "argon2id",
            "time (t) cost is 11",
        ),
        (
            &ARGON2ID_4GIB.replace("m=4194304,t=3,p=1", "m=19456,t=2,p=64"),
            "argon2id",
            "parallelism (p) cost is 64",
        ),
    ];
    for (digest, hasher, what) in cases {
        let create = app
            .post(
                "/v1/users",
                json!({"email_address": ["n@example.com"], "password_digest": digest, "password_hasher": hasher}),
            )
            .await;
        let update = app
            .patch(
                &user_path,
                json!({"password_digest": digest, "password_hasher": hasher}),
            )
            .await;
        for response in [create, update] {
            let error = assert_error(
                &response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_param_value_invalid",
            );
            assert_eq!(error["meta"]["param_name"], "password_digest");
            let message = error["long_message"].as_str().unwrap();
            assert!(
                message.contains("cost is too high") && message.contains(what),
                "{message}"
            );
        }
    }
    assert_eq!(app.user_count().await, 1, "no refused import wrote a user");
    let (status, body) = app
        .post(
            &format!("{user_path}/verify_password"),
            json!({"password": "kept password"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"verified": true})),
        "the password was kept"
    );

    // The limits are settings: a server that allows cost 31 takes the digest.
    let lenient = TestApp::spawn_with(
        backend,
        "[security.digest_cost_limits]\nbcrypt_max_cost = 31\n",
    )
    .await;
    create(
        &lenient,
        json!({"email_address": ["n@example.com"], "password_digest": BCRYPT_COST_31, "password_hasher": "bcrypt"}),
    )
    .await;
}

/// A digest stored above the limits (before they existed, or written to the
/// database directly) is not verified, even with the right password; one
/// within them still is.
async fn stored_digests_above_the_cost_limits_are_not_verified(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[security.digest_cost_limits]\nbcrypt_max_cost = 5\n",
    )
    .await;
    let digest = |cost| bcrypt::hash("imported secret", cost).unwrap();
    let user = create(
        &app,
        json!({"email_address": ["n@example.com"], "password_digest": digest(5), "password_hasher": "bcrypt", "skip_password_checks": true}),
    )
    .await;
    let id = user["id"].as_str().unwrap().to_owned();
    let above = digest(6);
    let state = app.state.clone();
    let user_id = id.clone();
    actix_web::rt::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use steward::db::schema::users;
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::update(users::table.find(user_id))
            .set(users::password_digest.eq(above))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let path = format!("/v1/users/{id}/verify_password");
    assert_error(
        &app.post(&path, json!({"password": "imported secret"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incorrect_password",
    );
    // Setting the password again makes the account usable.
    let (status, body) = app
        .patch(
            &format!("/v1/users/{id}"),
            json!({"password": "a new password", "skip_password_checks": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post(&path, json!({"password": "a new password"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"verified": true})));
}

/// One hashing thread and one waiting place: a burst of password checks
/// (Backend API verifications, and Frontend API sign-ins for unknown
/// addresses, hashed for timing equality) gets some answered and the rest
/// refused at once with 503 and `Retry-After`; token refreshes meanwhile
/// are untouched, and the queue has room again afterwards.
async fn a_burst_of_password_checks_beyond_the_queue_is_shed(backend: Backend) {
    const BURST: usize = 8;
    let app = TestApp::spawn_with(
        backend,
        "[security]\npassword_hash_threads = 1\npassword_hash_queue = 1\n",
    )
    .await;
    let user = create(
        &app,
        json!({"email_address": ["n@example.com"], "password": "native password"}),
    )
    .await;
    let mut signed_in = crate::common::fapi::FapiClient::native(&app);
    let session = signed_in.sign_in("n@example.com", "native password").await;
    let path = format!("/v1/users/{}/verify_password", user["id"].as_str().unwrap());
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (status, retry_after, response.json::<Value>().await.unwrap())
    };
    let verify = || async {
        let request = app
            .bapi(Method::POST, &path)
            .json(&json!({"password": "native password"}));
        answer(request.send().await.unwrap()).await
    };
    let app = &app;
    let unknown_sign_in = |n: usize| async move {
        let request = app
            .http
            .post(format!(
                "{}/v1/client/sign_ins?_is_native=1",
                app.frontend_url
            ))
            .form(&[
                ("identifier", format!("nobody{n}@example.com")),
                ("password", "a guess".to_owned()),
            ]);
        answer(request.send().await.unwrap()).await
    };
    let refreshes = async {
        let mut statuses = Vec::new();
        for _ in 0..BURST {
            statuses.push(signed_in.token(&session).await.0);
        }
        statuses
    };
    let (verifications, sign_ins, refreshed) = futures_util::future::join3(
        futures_util::future::join_all((0..BURST).map(|_| verify())),
        futures_util::future::join_all((0..BURST).map(unknown_sign_in)),
        refreshes,
    )
    .await;
    assert!(
        refreshed.iter().all(|s| *s == StatusCode::OK),
        "token refreshes during the burst: {refreshed:?}"
    );
    // Every check is either answered as it would be without load, or shed.
    let mut answered = 0;
    let mut shed = 0;
    for (status, retry_after, body) in verifications.into_iter().chain(sign_ins) {
        match status {
            StatusCode::OK => {
                assert_eq!(body, json!({"verified": true}));
                answered += 1;
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_error(&(status, body), status, "form_identifier_not_found");
                answered += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_error(&(status, body), status, "service_unavailable");
                assert!(
                    retry_after.is_some_and(|s| s >= 1),
                    "Retry-After: {retry_after:?}"
                );
                shed += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        answered >= 1 && shed >= 1,
        "answered {answered}, shed {shed}"
    );
    let (status, _, _) = verify().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the queue has room once the burst is done"
    );
}
