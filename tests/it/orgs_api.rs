//! Organizations: Backend and Frontend API, permissions, and the active
//! organization in session tokens, on SQLite and PostgreSQL; custom roles
//! are in `roles`, the spec's list filters in `lists`.

use crate::common::fapi::FapiClient;
use crate::common::jwt_claims as claims;
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    created_organization_becomes_the_tokens_active_organization,
    membership_changes_show_in_the_next_token,
    permissions_are_enforced_and_bad_input_refused,
    backend_organizations_and_memberships,
    objects_follow_clerks_schema,
);

mod lists;
mod roles;

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

    let before = app.settled_row_counts().await;
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
