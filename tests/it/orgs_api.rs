//! Organizations: Backend and Frontend API, roles and permissions, and the
//! active organization in session tokens, on SQLite and PostgreSQL.

use crate::common::fapi::FapiClient;
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    created_organization_becomes_the_tokens_active_organization,
    membership_changes_show_in_the_next_token,
    permissions_are_enforced_and_bad_input_refused,
    custom_roles_and_permissions_in_claims,
    backend_organizations_and_memberships,
    refused_role_and_permission_changes_write_nothing,
    list_filters_the_spec_defines,
    objects_follow_clerks_schema,
);

/// The claims of a token (signature checked elsewhere).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn token_claims(client: &mut FapiClient<'_>, session: &str) -> Value {
    let (status, token) = client.token(session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    claims(token["jwt"].as_str().unwrap())
}

async fn created_organization_becomes_the_tokens_active_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    user(&app, "founder@example.com").await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("founder@example.com", PASSWORD).await;
    let (status, body) = phone
        .post(
            &format!("/v1/organizations?_clerk_session_id={session}"),
            &[("name", "Acme Inc."), ("slug", "acme")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let org = &body["response"];
    assert_eq!(org["object"], "organization");
    assert_eq!(org["slug"], "acme");
    assert!(org.get("private_metadata").is_none());
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert!(
        token_claims(&mut phone, &session).await.get("o").is_none(),
        "not active yet"
    );

    let (status, touched) = phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{touched}");
    assert_eq!(
        touched["response"]["last_active_organization_id"],
        org_id.as_str()
    );
    let o = token_claims(&mut phone, &session).await["o"].clone();
    assert_eq!(o, json!({"id": org_id, "slg": "acme", "rol": "admin"}));

    let (_, memberships) = phone
        .get("/v1/me/organization_memberships?paginated=true")
        .await;
    assert_eq!(memberships["response"]["total_count"], 1);
    assert_eq!(memberships["response"]["data"][0]["role"], "org:admin");
    assert_eq!(
        memberships["response"]["data"][0]["organization"]["id"],
        org_id.as_str()
    );

    // The personal workspace again: no `o`.
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", "")],
        )
        .await;
    assert!(token_claims(&mut phone, &session).await.get("o").is_none());
    // A token request naming the organization makes it active.
    let (status, token) = phone
        .post(
            &format!("/v1/client/sessions/{session}/tokens"),
            &[("organization_id", org_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(
        claims(token["jwt"].as_str().unwrap())["o"]["id"],
        org_id.as_str()
    );

    let (_, list) = app.get("/v1/organizations").await;
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["data"][0]["id"], org_id.as_str());
}

async fn membership_changes_show_in_the_next_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = user(&app, "owner@example.com").await;
    let member = user(&app, "member@example.com").await;
    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Team", "created_by": owner}),
        )
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert_eq!(org["slug"], "team", "slug generated from the name");
    let (status, membership) = app
        .post(
            &format!("/v1/organizations/{org_id}/memberships"),
            json!({"user_id": member, "role": "org:member"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{membership}");
    assert_eq!(
        membership["permissions"],
        json!(["org:sys_memberships:read"])
    );

    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("member@example.com", PASSWORD).await;
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    assert_eq!(
        token_claims(&mut phone, &session).await["o"]["rol"],
        "member"
    );

    // Promotion shows at once, inside the token reuse window.
    app.patch(
        &format!("/v1/organizations/{org_id}/memberships/{member}"),
        json!({"role": "org:admin"}),
    )
    .await;
    assert_eq!(
        token_claims(&mut phone, &session).await["o"]["rol"],
        "admin"
    );
    // A new slug too.
    app.patch(
        &format!("/v1/organizations/{org_id}"),
        json!({"slug": "renamed-team"}),
    )
    .await;
    assert_eq!(
        token_claims(&mut phone, &session).await["o"]["slg"],
        "renamed-team"
    );
    // Removal takes the organization out of the token.
    let (status, removed) = app
        .delete(&format!("/v1/organizations/{org_id}/memberships/{member}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert!(token_claims(&mut phone, &session).await.get("o").is_none());
    let (_, session_object) = app.get(&format!("/v1/sessions/{session}")).await;
    assert_eq!(session_object["last_active_organization_id"], Value::Null);
}

async fn permissions_are_enforced_and_bad_input_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = user(&app, "admin@example.com").await;
    let member = user(&app, "plain@example.com").await;
    let outsider = user(&app, "outsider@example.com").await;
    let (_, org) = app
        .post("/v1/organizations", json!({"name": "Guarded", "slug": "guarded", "created_by": admin, "max_allowed_memberships": 2}))
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/organizations/{org_id}/memberships"),
        json!({"user_id": member, "role": "org:member"}),
    )
    .await;

    let before = app.row_counts().await;
    let full = app
        .post(
            &format!("/v1/organizations/{org_id}/memberships"),
            json!({"user_id": outsider, "role": "org:member"}),
        )
        .await;
    assert_error(
        &full,
        StatusCode::FORBIDDEN,
        "organization_membership_quota_exceeded",
    );
    let dup = app
        .post(
            &format!("/v1/organizations/{org_id}/memberships"),
            json!({"user_id": member, "role": "org:member"}),
        )
        .await;
    assert_error(
        &dup,
        StatusCode::UNPROCESSABLE_ENTITY,
        "already_a_member_in_organization",
    );
    let no_role = app
        .patch(
            &format!("/v1/organizations/{org_id}/memberships/{member}"),
            json!({"role": "org:wizard"}),
        )
        .await;
    assert_error(
        &no_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let last_admin = app
        .delete(&format!("/v1/organizations/{org_id}/memberships/{admin}"))
        .await;
    assert_error(
        &last_admin,
        StatusCode::FORBIDDEN,
        "organization_minimum_permissions_needed",
    );
    let demote = app
        .patch(
            &format!("/v1/organizations/{org_id}/memberships/{admin}"),
            json!({"role": "org:member"}),
        )
        .await;
    assert_error(
        &demote,
        StatusCode::FORBIDDEN,
        "organization_minimum_permissions_needed",
    );
    let taken = app
        .post(
            "/v1/organizations",
            json!({"name": "Other", "slug": "guarded"}),
        )
        .await;
    assert_error(
        &taken,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_exists",
    );
    let bad_slug = app
        .post(
            "/v1/organizations",
            json!({"name": "Other", "slug": "Not A Slug"}),
        )
        .await;
    assert_error(
        &bad_slug,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_format_invalid",
    );
    assert_error(
        &app.post("/v1/organizations", json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_missing",
    );
    app.assert_rows_unchanged(&before, "refused membership and organization changes")
        .await;
    let (_, count) = app.get("/v1/organizations").await;
    assert_eq!(count["total_count"], 1, "refused requests created nothing");

    // On the Frontend API a member may read but not manage; an outsider sees nothing.
    let mut plain = FapiClient::native(&app);
    plain.sign_in("plain@example.com", PASSWORD).await;
    let (status, _) = plain
        .get(&format!("/v1/organizations/{org_id}/memberships"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let forbidden = plain
        .call(
            Method::PATCH,
            &format!("/v1/organizations/{org_id}"),
            &[("name", "Mine now")],
        )
        .await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "not_authorized");
    let forbidden = plain
        .call(
            Method::DELETE,
            &format!("/v1/organizations/{org_id}/memberships/{admin}"),
            &[],
        )
        .await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "not_authorized");
    let mut stranger = FapiClient::native(&app);
    stranger.sign_in("outsider@example.com", PASSWORD).await;
    assert_error(
        &stranger.get(&format!("/v1/organizations/{org_id}")).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let session = stranger.get("/v1/client").await.1["response"]["last_active_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let not_member = stranger
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    assert_error(&not_member, StatusCode::NOT_FOUND, "resource_not_found");

    // The admin manages on the Frontend API; leaving is refused to the last admin.
    let mut boss = FapiClient::native(&app);
    boss.sign_in("admin@example.com", PASSWORD).await;
    let (status, renamed) = boss
        .call(
            Method::PATCH,
            &format!("/v1/organizations/{org_id}"),
            &[("name", "Guarded Ltd")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["response"]["name"], "Guarded Ltd");
    let leave = boss
        .call(
            Method::DELETE,
            &format!("/v1/me/organization_memberships/{org_id}"),
            &[],
        )
        .await;
    assert_error(
        &leave,
        StatusCode::FORBIDDEN,
        "organization_minimum_permissions_needed",
    );
    let (status, _) = plain
        .call(
            Method::DELETE,
            &format!("/v1/me/organization_memberships/{org_id}"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a member may leave");
    let (status, deleted) = boss
        .call(Method::DELETE, &format!("/v1/organizations/{org_id}"), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["response"]["deleted"], true);
}

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

async fn backend_organizations_and_memberships(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = user(&app, "bapi-org@example.com").await;
    let (_, org) = app
        .post("/v1/organizations", json!({"name": "Backend Org", "slug": "backend-org", "created_by": owner, "public_metadata": {"tier": 1}, "private_metadata": {"crm": "x"}}))
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert_eq!(org["members_count"], 1);
    let (_, by_slug) = app.get("/v1/organizations/backend-org").await;
    assert_eq!(by_slug["id"], org_id.as_str());
    let (_, merged) = app
        .patch(
            &format!("/v1/organizations/{org_id}/metadata"),
            json!({"public_metadata": {"extra": true}}),
        )
        .await;
    assert_eq!(merged["public_metadata"], json!({"tier": 1, "extra": true}));
    let (_, replaced) = app
        .send(
            app.bapi(Method::PUT, &format!("/v1/organizations/{org_id}/metadata"))
                .json(&json!({"public_metadata": {"only": 1}})),
        )
        .await;
    assert_eq!(replaced["public_metadata"], json!({"only": 1}));
    assert_eq!(replaced["private_metadata"], json!({"crm": "x"}));
    let (_, members) = app
        .get(&format!("/v1/organizations/{org_id}/memberships"))
        .await;
    assert_eq!(members["total_count"], 1);
    assert_eq!(
        members["data"][0]["public_user_data"]["user_id"],
        owner.as_str()
    );
    let (_, mine) = app
        .get(&format!("/v1/users/{owner}/organization_memberships"))
        .await;
    assert_eq!(mine["data"][0]["organization"]["id"], org_id.as_str());
    let (_, all) = app.get("/v1/organization_memberships").await;
    assert_eq!(all["total_count"], 1);
    let (_, found) = app
        .get("/v1/organizations?query=backend&include_members_count=true")
        .await;
    assert_eq!(found["data"][0]["members_count"], 1);
    let (_, by_user) = app.get(&format!("/v1/organizations?user_id={owner}")).await;
    assert_eq!(by_user["total_count"], 1);
    let (_, metadata) = app
        .patch(
            &format!("/v1/organizations/{org_id}/memberships/{owner}/metadata"),
            json!({"public_metadata": {"title": "CEO"}}),
        )
        .await;
    assert_eq!(metadata["public_metadata"], json!({"title": "CEO"}));
    let (status, deleted) = app.delete(&format!("/v1/organizations/{org_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        deleted,
        json!({"object": "organization", "id": org_id, "slug": "backend-org", "deleted": true})
    );
    assert_error(
        &app.get(&format!("/v1/organizations/{org_id}")).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.get("/v1/organizations?order_by=slug").await,
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
    let before = app.row_counts().await;
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

fn ids_of(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {body}"))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn member_ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {body}"))
        .iter()
        .map(|m| {
            m["public_user_data"]["user_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The list filters of Clerk's spec that the first version ignored, with
/// the orgs module on a database of its own: membership filters on user
/// attributes come through the users service.
async fn list_filters_the_spec_defines(backend: Backend) {
    let app = TestApp::spawn_with_module_database(backend, "orgs", "").await;
    let owner = user(&app, "zoe@example.com").await;
    let ann = user(&app, "ann@example.com").await;
    let max = user(&app, "max@example.com").await;
    let (status, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Beta", "created_by": owner}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    let org_id = org["id"].as_str().unwrap().to_owned();
    for member in [&ann, &max] {
        let (status, body) = app
            .post(
                &format!("/v1/organizations/{org_id}/memberships"),
                json!({"user_id": member, "role": "org:member"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let members = format!("/v1/organizations/{org_id}/memberships");

    let (_, body) = app
        .get(&format!("{members}?email_address=ANN@example.com"))
        .await;
    assert_eq!(member_ids(&body), [ann.as_str()], "{body}");
    assert_eq!(body["total_count"], 1);
    let (_, body) = app.get(&format!("{members}?email_address_query=ma")).await;
    assert_eq!(member_ids(&body), [max.as_str()]);
    let (_, body) = app.get(&format!("{members}?query=zoe")).await;
    assert_eq!(member_ids(&body), [owner.as_str()]);
    let (_, body) = app.get(&format!("{members}?order_by=email_address")).await;
    assert_eq!(member_ids(&body), [ann.clone(), max.clone(), owner.clone()]);
    let (_, body) = app
        .get(&format!(
            "{members}?order_by=-email_address&limit=1&offset=1"
        ))
        .await;
    assert_eq!(member_ids(&body), [max.as_str()]);
    assert_eq!(body["total_count"], 3);
    let (_, body) = app.get(&format!("{members}?order_by=-created_at")).await;
    assert_eq!(member_ids(&body), [max.clone(), ann.clone(), owner.clone()]);
    let (_, body) = app.get(&members).await;
    assert_eq!(
        member_ids(&body),
        [max.clone(), ann.clone(), owner.clone()],
        "newest first by default, as Clerk's lists are"
    );
    let (_, body) = app
        .get(&format!(
            "{members}?user_id=-{owner}&role=org:member&order_by=%2Bcreated_at"
        ))
        .await;
    assert_eq!(member_ids(&body), [ann.clone(), max.clone()]);
    let (_, body) = app.get(&format!("{members}?phone_number_query=555")).await;
    assert_eq!(body["total_count"], 0, "nobody has a phone number");
    let (_, body) = app
        .get("/v1/organization_memberships?order_by=email_address")
        .await;
    assert_eq!(member_ids(&body), [ann.clone(), max.clone(), owner.clone()]);

    // Invitations: one address, part of an address, and their order.
    for email in ["bea@example.com", "cal@example.com"] {
        let (status, body) = app
            .post(
                &format!("/v1/organizations/{org_id}/invitations"),
                json!({"email_address": email, "role": "org:member"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let invitations = format!("/v1/organizations/{org_id}/invitations");
    let (_, body) = app
        .get(&format!("{invitations}?email_address=CAL@example.com"))
        .await;
    assert_eq!(body["total_count"], 1, "{body}");
    assert_eq!(body["data"][0]["email_address"], "cal@example.com");
    let (_, body) = app
        .get(&format!("{invitations}?order_by=email_address"))
        .await;
    assert_eq!(body["data"][0]["email_address"], "bea@example.com");
    let (_, body) = app.get("/v1/organization_invitations?query=bea").await;
    assert_eq!(body["total_count"], 1, "{body}");
    let (_, body) = app
        .get("/v1/organization_invitations?order_by=-email_address")
        .await;
    assert_eq!(body["data"][0]["email_address"], "cal@example.com");

    // Roles and permissions: exact id, or part of the key or name.
    let (_, role) = app
        .post(
            "/v1/organization_roles",
            json!({"name": "Auditor", "key": "org:auditor"}),
        )
        .await;
    let role_id = role["id"].as_str().unwrap().to_owned();
    let (_, body) = app.get("/v1/organization_roles?query=AUDIT").await;
    assert_eq!(ids_of(&body), [role_id.as_str()], "{body}");
    let (_, body) = app
        .get(&format!("/v1/organization_roles?query={role_id}"))
        .await;
    assert_eq!(ids_of(&body), [role_id.as_str()]);
    let (_, body) = app.get("/v1/organization_roles").await;
    assert_eq!(
        body["data"][0]["key"], "org:auditor",
        "newest first: {body}"
    );
    let (_, body) = app.get("/v1/organization_roles?order_by=-key").await;
    assert_eq!(body["data"][0]["key"], "org:member", "{body}");
    let (_, body) = app
        .get("/v1/organization_permissions?query=DOMAINS&order_by=-key")
        .await;
    assert_eq!(body["total_count"], 2, "{body}");
    assert_eq!(body["data"][0]["key"], "org:sys_domains:read");
    let (_, body) = app
        .get("/v1/organization_permissions?order_by=key&limit=1")
        .await;
    assert_eq!(body["data"][0]["key"], "org:sys_domains:manage", "{body}");

    // Organizations: by name, by members, and without a member's.
    let (_, solo) = app
        .post("/v1/organizations", json!({"name": "Alpha"}))
        .await;
    let solo_id = solo["id"].as_str().unwrap().to_owned();
    let (_, body) = app.get("/v1/organizations?order_by=name").await;
    assert_eq!(ids_of(&body), [solo_id.clone(), org_id.clone()]);
    let (_, body) = app.get("/v1/organizations?order_by=-members_count").await;
    assert_eq!(ids_of(&body), [org_id.clone(), solo_id.clone()]);
    let (_, body) = app.get(&format!("/v1/organizations?user_id=-{ann}")).await;
    assert_eq!(ids_of(&body), [solo_id.as_str()]);
    let (_, body) = app
        .get(
            "/v1/organizations?include_missing_member_with_elevated_permissions=true&order_by=name",
        )
        .await;
    assert_eq!(
        body["data"][0]["missing_member_with_elevated_permissions"],
        true
    );
    assert_eq!(
        body["data"][1]["missing_member_with_elevated_permissions"],
        false
    );
    let (_, body) = app
        .get(&format!(
            "/v1/organizations/{solo_id}?include_missing_member_with_elevated_permissions=true"
        ))
        .await;
    assert_eq!(
        body["missing_member_with_elevated_permissions"], true,
        "{body}"
    );

    for (path, param) in [
        (format!("{members}?order_by=banned"), "order_by"),
        (
            "/v1/organization_roles?order_by=-permissions".to_owned(),
            "order_by",
        ),
        (
            "/v1/organization_permissions?order_by=type".to_owned(),
            "order_by",
        ),
        ("/v1/organizations?order_by=slug".to_owned(), "order_by"),
        (format!("{invitations}?order_by=role"), "order_by"),
        (
            format!("/v1/organization_roles?query={}", "q".repeat(257)),
            "query",
        ),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["errors"][0]["meta"]["param_name"], param, "{path}");
    }
}

/// Fields Clerk's schema requires (or forbids) on organization objects.
async fn objects_follow_clerks_schema(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, org) = app
        .post("/v1/organizations", json!({"name": "No Creator"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert!(
        org.get("created_by").is_none(),
        "created_by is a string or absent, never null: {org}"
    );
    let (_, settings) = app.get("/v1/instance/organization_settings").await;
    assert_eq!(settings["max_allowed_permissions"], 0, "{settings}");
    let (status, permission) = app
        .post(
            "/v1/organization_permissions",
            json!({"name": "Docs", "key": "org:docs:read"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{permission}");
    assert_eq!(permission["description"], "", "a string, never null");
}
