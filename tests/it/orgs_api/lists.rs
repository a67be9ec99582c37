//! The list filters of Clerk's spec for organizations and memberships, with
//! the orgs module on a database of its own.

use super::*;

on_every_backend!(list_filters_the_spec_defines,);

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
    assert_eq!(body["data"][0]["key"], "org:sys_billing:manage", "{body}");

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
