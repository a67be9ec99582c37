//! Custom organization roles and permissions: in the token's claims, and
//! refused role and permission changes that write nothing.

use super::*;

on_every_backend!(
    custom_roles_and_permissions_in_claims,
    refused_role_and_permission_changes_write_nothing,
);

async fn custom_roles_and_permissions_in_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = user(&app, "roles@example.com").await;
    let (status, read) = app
        .post(
            "/v1/organization_permissions",
            json!({"name": "Read dashboard", "key": "org:dashboard:read"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    app.post(
        "/v1/organization_permissions",
        json!({"name": "Manage billing", "key": "org:billing:manage"}),
    )
    .await;
    let bad_key = app
        .post(
            "/v1/organization_permissions",
            json!({"name": "x", "key": "dashboard"}),
        )
        .await;
    assert_error(
        &bad_key,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    let (status, editor) = app
        .post(
            "/v1/organization_roles",
            json!({"name": "Editor", "key": "org:editor", "permissions": ["org:dashboard:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{editor}");
    assert_eq!(editor["permissions"][0]["key"], "org:dashboard:read");
    let (_, roles) = app.get("/v1/organization_roles").await;
    assert_eq!(roles["total_count"], 3);
    let system = app
        .patch("/v1/organization_roles/org:admin", json!({"name": "Boss"}))
        .await;
    assert_error(&system, StatusCode::FORBIDDEN, "action_not_allowed");

    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Claims", "created_by": owner}),
        )
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/v1/organizations/{org_id}/memberships/{owner}"),
        json!({"role": "org:admin"}),
    )
    .await;
    let other = user(&app, "editor@example.com").await;
    app.post(
        &format!("/v1/organizations/{org_id}/memberships"),
        json!({"user_id": other, "role": "org:editor"}),
    )
    .await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("editor@example.com", PASSWORD).await;
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    let claims = token_claims(&mut phone, &session).await;
    assert_eq!(claims["o"]["rol"], "editor");
    assert_eq!(claims["o"]["per"], "read");
    assert_eq!(claims["o"]["fpm"], "1");
    assert_eq!(claims["fea"], "o:dashboard");

    // Granting another permission to the role reaches the next token.
    let editor_id = editor["id"].as_str().unwrap();
    let billing = app.get("/v1/organization_permissions").await.1["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "org:billing:manage")
        .unwrap()["id"]
        .clone();
    let (status, _) = app
        .post(
            &format!(
                "/v1/organization_roles/{editor_id}/permissions/{}",
                billing.as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let claims = token_claims(&mut phone, &session).await;
    assert_eq!(claims["fea"], "o:billing,o:dashboard");
    assert_eq!(claims["o"]["per"], "manage,read");
    assert_eq!(claims["o"]["fpm"], "1,2");

    let in_use = app
        .delete(&format!("/v1/organization_roles/{editor_id}"))
        .await;
    assert_error(&in_use, StatusCode::FORBIDDEN, "action_not_allowed");
    let (status, settings) = app
        .send(
            app.bapi(Method::PATCH, "/v1/instance/organization_settings")
                .json(&json!({"max_allowed_memberships": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["max_allowed_memberships"], 3);
    let (_, settings) = app.get("/v1/instance/organization_settings").await;
    assert_eq!(settings["creator_role"], "org:admin");
    let bad_creator = app
        .send(
            app.bapi(Method::PATCH, "/v1/instance/organization_settings")
                .json(&json!({"creator_role_id": editor_id})),
        )
        .await;
    assert_error(
        &bad_creator,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
}

/// Bad keys, duplicates, unknown permissions and changes to system roles
/// are refused, and none of them writes anything.
async fn refused_role_and_permission_changes_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .post(
            "/v1/organization_permissions",
            json!({"name": "Read", "key": "org:dashboard:read"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/v1/organization_roles",
            json!({"name": "Editor", "key": "org:editor", "permissions": ["org:dashboard:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = app.settled_row_counts().await;
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/organization_permissions",
            json!({"name": "x", "key": "dashboard"}),
        ),
        (
            Method::POST,
            "/v1/organization_permissions",
            json!({"name": "Again", "key": "org:dashboard:read"}),
        ),
        (
            Method::POST,
            "/v1/organization_permissions",
            json!({"key": "org:x:y"}),
        ),
        (
            Method::POST,
            "/v1/organization_roles",
            json!({"name": "Bad", "key": "editor"}),
        ),
        (
            Method::POST,
            "/v1/organization_roles",
            json!({"name": "Dup", "key": "org:editor"}),
        ),
        (
            Method::POST,
            "/v1/organization_roles",
            json!({"name": "Ghost", "key": "org:ghost", "permissions": ["org:nothing:here"]}),
        ),
        (
            Method::PATCH,
            "/v1/organization_roles/org:admin",
            json!({"name": "Boss"}),
        ),
        (
            Method::DELETE,
            "/v1/organization_roles/org:admin",
            json!({}),
        ),
        (
            Method::PATCH,
            "/v1/organization_roles/org:editor",
            json!({"name": 7}),
        ),
    ] {
        let (status, reply) = app.send(app.bapi(method.clone(), path).json(&body)).await;
        assert!(
            status.is_client_error(),
            "{method} {path} {body}: {status} {reply}"
        );
        assert!(reply["errors"][0]["code"].is_string(), "{reply}");
    }
    app.assert_rows_unchanged(&before, "refused role and permission changes")
        .await;
}
