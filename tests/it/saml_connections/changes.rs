//! Listing, changing and deleting SAML connections.

use super::{certificate, create, id};
use crate::common::{assert_error, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_every_backend!(
    connections_are_listed_filtered_and_paged,
    every_field_is_updated_and_activation_needs_the_idp,
    a_deleted_connection_is_gone,
);

async fn connections_are_listed_filtered_and_paged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Listed Org", "slug": "listed-org"}),
        )
        .await;
    let org_id = id(&org);
    let mut ids = Vec::new();
    for (name, domain, in_org) in [
        ("Bravo", "bravo.example", false),
        ("Alpha", "alpha.example", true),
        ("Charlie", "charlie.example", false),
        ("Delta", "delta.example", true),
    ] {
        let mut body = json!({"name": name, "provider": "saml_custom", "domains": [domain]});
        if in_org {
            body["organization_id"] = json!(org_id);
        }
        let connection = create(&app, body).await;
        if in_org {
            assert_eq!(connection["organization_id"], org_id);
        }
        ids.push(id(&connection));
        // Distinct creation times for a stable order.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let (status, all) = app.get("/v1/saml_connections").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total_count"], 4);
    assert_eq!(
        names(&all),
        ["Delta", "Charlie", "Alpha", "Bravo"],
        "newest first"
    );
    assert_eq!(all["data"][0]["object"], "saml_connection");

    let (_, page) = app.get("/v1/saml_connections?limit=2&offset=1").await;
    assert_eq!(page["total_count"], 4);
    assert_eq!(names(&page), ["Charlie", "Alpha"]);
    let (_, page) = app.get("/v1/saml_connections?offset=10").await;
    assert_eq!(page["total_count"], 4);
    assert_eq!(names(&page), Vec::<String>::new());

    let (_, oldest) = app.get("/v1/saml_connections?order_by=%2Bcreated_at").await;
    assert_eq!(names(&oldest), ["Bravo", "Alpha", "Charlie", "Delta"]);
    let (_, by_name) = app.get("/v1/saml_connections?order_by=name").await;
    assert_eq!(names(&by_name), ["Alpha", "Bravo", "Charlie", "Delta"]);
    let (_, by_name) = app.get("/v1/saml_connections?order_by=-name").await;
    assert_eq!(names(&by_name), ["Delta", "Charlie", "Bravo", "Alpha"]);

    let (_, found) = app.get("/v1/saml_connections?query=ALP").await;
    assert_eq!(found["total_count"], 1);
    assert_eq!(names(&found), ["Alpha"]);
    let (_, found) = app.get("/v1/saml_connections?query=charlie.exa").await;
    assert_eq!(names(&found), ["Charlie"], "by domain too");
    let (_, found) = app.get("/v1/saml_connections?query=nothing").await;
    assert_eq!(found["total_count"], 0);

    let (_, in_org) = app
        .get(&format!("/v1/saml_connections?organization_id={org_id}"))
        .await;
    assert_eq!(in_org["total_count"], 2);
    assert_eq!(names(&in_org), ["Delta", "Alpha"]);
    // Clerk's signed form: `+` includes, `-` excludes; `[]` keys too.
    let (_, in_org) = app
        .get(&format!("/v1/saml_connections?organization_id=%2B{org_id}"))
        .await;
    assert_eq!(in_org["total_count"], 2, "{in_org}");
    let (_, in_org) = app
        .get(&format!("/v1/saml_connections?organization_id[]={org_id}"))
        .await;
    assert_eq!(in_org["total_count"], 2, "{in_org}");
    let (_, outside) = app
        .get(&format!("/v1/saml_connections?organization_id=-{org_id}"))
        .await;
    assert_eq!(outside["total_count"], 2, "{outside}");
    assert_eq!(names(&outside), ["Charlie", "Bravo"]);
    let (_, none) = app
        .get("/v1/saml_connections?organization_id=org_nothing")
        .await;
    assert_eq!(none["total_count"], 0);
    let (_, combined) = app
        .get(&format!(
            "/v1/saml_connections?organization_id={org_id}&query=delta&limit=1"
        ))
        .await;
    assert_eq!(combined["total_count"], 1);
    assert_eq!(names(&combined), ["Delta"]);

    for bad in [
        "limit=0",
        "limit=501",
        "offset=-1",
        "limit=ten",
        "order_by=phone_number",
    ] {
        let response = app.get(&format!("/v1/saml_connections?{bad}")).await;
        assert_eq!(
            response.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            response.1
        );
        assert!(response.1["errors"][0]["code"].is_string(), "{bad}");
    }
}

async fn every_field_is_updated_and_activation_needs_the_idp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Update Org", "slug": "update-org"}),
        )
        .await;
    let org_id = id(&org);
    let connection = create(
        &app,
        json!({"name": "Initial", "provider": "saml_custom", "domains": ["initial.example"],
               "force_authn": true}),
    )
    .await;
    let cid = id(&connection);
    let path = format!("/v1/saml_connections/{cid}");
    assert_eq!(connection["force_authn"], true);

    // Activation is refused until entity id, SSO URL and certificate are set.
    let refused = app.patch(&path, json!({"active": true})).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (status, partial) = app
        .patch(
            &path,
            json!({"idp_entity_id": "https://idp.update.test", "idp_sso_url": "https://idp.update.test/sso"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{partial}");
    let refused = app.patch(&path, json!({"active": true})).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (_, still) = app.get(&path).await;
    assert_eq!(still["active"], false);

    let (pem, der) = certificate();
    let (status, changed) = app
        .patch(
            &path,
            json!({"name": "Renamed", "provider": "saml_okta", "domains": ["renamed.example", "second.example"],
                   "idp_certificate": der, "organization_id": org_id,
                   "attribute_mapping": {"email_address": "email", "user_id": "uid"},
                   "force_authn": false, "active": true, "sync_user_attributes": false,
                   "allow_subdomains": true, "allow_idp_initiated": true,
                   "disable_additional_identifications": true,
                   "allow_organization_account_linking": true,
                   "login_hint": {"mode": "custom_attribute", "source": "login"},
                   "consent_verified_domains_deletion": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "Renamed");
    assert_eq!(changed["provider"], "saml_okta");
    assert_eq!(changed["domain"], "renamed.example");
    assert_eq!(
        changed["domains"],
        json!(["renamed.example", "second.example"])
    );
    assert_eq!(changed["idp_certificate"], pem, "base64 DER stored as PEM");
    assert!(changed["idp_certificate_issued_at"].is_i64());
    assert_eq!(changed["organization_id"], org_id);
    assert_eq!(
        changed["attribute_mapping"],
        json!({"user_id": "uid", "email_address": "email", "first_name": "firstName", "last_name": "lastName"}),
        "merged into the current mapping"
    );
    assert_eq!(changed["force_authn"], false, "true → false");
    assert_eq!(changed["active"], true);
    assert_eq!(changed["authenticatable"], true);
    assert_eq!(changed["sync_user_attributes"], false);
    assert_eq!(changed["allow_subdomains"], true);
    assert_eq!(changed["allow_idp_initiated"], true);
    assert_eq!(changed["disable_additional_identifications"], true);
    assert_eq!(changed["allow_organization_account_linking"], true);
    assert_eq!(
        changed["login_hint"],
        json!({"mode": "custom_attribute", "source": "login"})
    );
    assert!(changed["updated_at"].as_i64().unwrap() >= connection["updated_at"].as_i64().unwrap());
    let (_, got) = app.get(&path).await;
    assert_eq!(got, changed, "stored as answered");

    // force_authn back on, then off again; nothing else moves.
    let (_, on) = app.patch(&path, json!({"force_authn": true})).await;
    assert_eq!(on["force_authn"], true);
    assert_eq!(on["name"], "Renamed");
    let (_, off) = app.patch(&path, json!({"force_authn": false})).await;
    assert_eq!(off["force_authn"], false);
    assert_eq!(off["active"], true);

    // The old domain is free again for another connection.
    create(
        &app,
        json!({"name": "Reuse", "provider": "saml_custom", "domains": ["initial.example"]}),
    )
    .await;

    // Null clears: the organization, the mapping back to the provider's
    // defaults, the login hint; an active connection cannot lose its IdP.
    let (status, cleared) = app
        .patch(
            &path,
            json!({"organization_id": null, "attribute_mapping": null, "login_hint": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["organization_id"], Value::Null);
    assert_eq!(cleared["attribute_mapping"]["email_address"], "mail");
    assert_eq!(cleared["attribute_mapping"]["user_id"], "");
    assert_eq!(cleared["login_hint"], json!({"mode": "off"}));
    let refused = app.patch(&path, json!({"idp_certificate": null})).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (status, inactive) = app
        .patch(&path, json!({"active": false, "idp_certificate": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{inactive}");
    assert_eq!(inactive["idp_certificate"], Value::Null);
    assert_eq!(inactive["idp_certificate_issued_at"], Value::Null);
    assert_eq!(inactive["authenticatable"], false);

    // Unknown ids.
    let missing = app
        .patch("/v1/saml_connections/samlc_nothing", json!({"name": "x"}))
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "resource_not_found");
}

async fn a_deleted_connection_is_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let connection = create(
        &app,
        json!({"name": "Doomed", "provider": "saml_custom", "domains": ["doomed.example"]}),
    )
    .await;
    let cid = id(&connection);
    let path = format!("/v1/saml_connections/{cid}");
    let (status, deleted) = app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        deleted,
        json!({"object": "saml_connection", "id": cid, "deleted": true})
    );
    assert_error(
        &app.get(&path).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.delete(&path).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    assert_error(
        &app.patch(&path, json!({"name": "Back"})).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let (_, all) = app.get("/v1/saml_connections").await;
    assert_eq!(all["total_count"], 0);
    assert_error(
        &app.get("/v1/saml_connections/not-an-id").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    // Its domain is free again.
    create(
        &app,
        json!({"name": "Successor", "provider": "saml_custom", "domains": ["doomed.example"]}),
    )
    .await;
}
