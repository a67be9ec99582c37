//! SAML connections on the Backend API (`/v1/saml_connections`): created
//! from fields, from pasted IdP metadata and from a metadata URL; listed,
//! changed and deleted; bad input refused without a change; a domain
//! served by one connection only, even when claimed concurrently; and each
//! connection's SP metadata on the Frontend API. On every backend.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::common::{assert_error, Backend, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use steward::modules::saml::certificates;

on_every_backend!(
    a_connection_is_created_from_fields,
    a_connection_is_created_from_pasted_metadata,
    a_connection_is_created_from_a_metadata_url,
    connections_are_listed_filtered_and_paged,
    every_field_is_updated_and_activation_needs_the_idp,
    a_deleted_connection_is_gone,
    bad_input_is_refused_and_changes_nothing,
    concurrent_claims_on_one_domain_make_one_connection,
    the_sp_metadata_is_served_on_the_frontend_api,
);

/// A fresh self-signed certificate: (PEM, bare base64 DER).
fn certificate() -> (String, String) {
    let (_, cert) = certificates::generate_sp_credentials("idp.example.test").unwrap();
    (
        certificates::to_pem(&cert).unwrap(),
        certificates::der_base64(&cert).unwrap(),
    )
}

/// IdP metadata with a signing key, a POST and a Redirect SSO service.
fn idp_metadata(entity_id: &str, sso_base: &str, der_base64: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der_base64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso_base}/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_base}/redirect"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// A tiny HTTP server on loopback answering every request with `status`
/// and `body`; returns its base URL. The thread lives as long as the test
/// binary.
fn serve(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, connection) = app.post("/v1/saml_connections", body).await;
    assert_eq!(status, StatusCode::OK, "{connection}");
    connection
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

async fn a_connection_is_created_from_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (pem, _) = certificate();
    let connection = create(
        &app,
        json!({"name": "Acme Okta", "provider": "saml_okta", "domains": ["Acme.COM.", "acme.io", "acme.com"],
               "idp_entity_id": "http://www.okta.com/exk1", "idp_sso_url": "https://acme.okta.com/sso",
               "idp_certificate": pem}),
    )
    .await;
    let cid = id(&connection);
    assert!(cid.starts_with("samlc_"), "{cid}");
    assert_eq!(connection["object"], "saml_connection");
    assert_eq!(connection["name"], "Acme Okta");
    assert_eq!(connection["provider"], "saml_okta");
    assert_eq!(connection["domain"], "acme.com", "the first domain");
    assert_eq!(
        connection["domains"],
        json!(["acme.com", "acme.io"]),
        "normalised, deduplicated, in order"
    );
    let public = app.state.public_url.trim_end_matches('/').to_owned();
    assert_eq!(connection["acs_url"], format!("{public}/v1/saml/acs/{cid}"));
    assert_eq!(connection["sp_entity_id"], format!("{public}/saml/{cid}"));
    assert_eq!(
        connection["sp_metadata_url"],
        format!("{public}/v1/saml/metadata/{cid}.xml")
    );
    assert_eq!(connection["idp_entity_id"], "http://www.okta.com/exk1");
    assert_eq!(connection["idp_sso_url"], "https://acme.okta.com/sso");
    assert!(connection["idp_certificate"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let issued = connection["idp_certificate_issued_at"].as_i64().unwrap();
    let expires = connection["idp_certificate_expires_at"].as_i64().unwrap();
    assert!((issued - now_ms()).abs() < 600_000, "{issued}");
    assert!(expires - issued >= 3649 * 86_400_000, "{issued}..{expires}");
    assert_eq!(connection["idp_metadata_url"], Value::Null);
    assert_eq!(connection["idp_metadata"], Value::Null);
    assert_eq!(connection["organization_id"], Value::Null);
    assert_eq!(connection["force_authn"], false);
    assert_eq!(connection["active"], false);
    assert_eq!(connection["authenticatable"], false, "not active yet");
    assert_eq!(connection["user_count"], 0);
    assert_eq!(connection["sync_user_attributes"], true);
    assert_eq!(connection["allow_subdomains"], false);
    assert_eq!(connection["allow_idp_initiated"], false);
    assert_eq!(connection["disable_additional_identifications"], false);
    assert_eq!(connection["allow_organization_account_linking"], false);
    assert_eq!(connection["disable_jit_provisioning"], false);
    assert_eq!(connection["login_hint"], json!({"mode": "off"}));
    assert_eq!(
        connection["attribute_mapping"],
        json!({"user_id": "", "email_address": "mail", "first_name": "firstName", "last_name": "lastName"})
    );
    assert!(connection["created_at"].as_i64().unwrap() > 0);
    assert_eq!(connection["created_at"], connection["updated_at"]);

    // The deprecated single `domain`, Microsoft's defaults, and the
    // create-time options.
    let microsoft = create(
        &app,
        json!({"name": "Contoso", "provider": "saml_microsoft", "domain": "contoso.com",
               "force_authn": true, "login_hint": {"mode": "email_address"},
               "attribute_mapping": {"first_name": "given"}}),
    )
    .await;
    assert_eq!(microsoft["domains"], json!(["contoso.com"]));
    assert_eq!(microsoft["force_authn"], true);
    assert_eq!(microsoft["login_hint"], json!({"mode": "email_address"}));
    assert_eq!(microsoft["attribute_mapping"]["first_name"], "given");
    assert_eq!(
        microsoft["attribute_mapping"]["email_address"],
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    );
    assert_eq!(microsoft["idp_entity_id"], Value::Null);
    assert_eq!(microsoft["idp_certificate_issued_at"], Value::Null);

    // Read back as created.
    let (status, got) = app.get(&format!("/v1/saml_connections/{cid}")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, connection);
}

async fn a_connection_is_created_from_pasted_metadata(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (pem, der) = certificate();
    let xml = idp_metadata(
        "https://idp.example.test/entity",
        "https://idp.example.test/sso",
        &der,
    );
    // The metadata wins over the separate fields.
    let connection = create(
        &app,
        json!({"name": "Pasted", "provider": "saml_custom", "domains": ["pasted.example"],
               "idp_entity_id": "https://ignored.example/entity", "idp_metadata": xml}),
    )
    .await;
    assert_eq!(
        connection["idp_entity_id"],
        "https://idp.example.test/entity"
    );
    assert_eq!(
        connection["idp_sso_url"], "https://idp.example.test/sso/redirect",
        "the HTTP-Redirect binding's location"
    );
    assert_eq!(connection["idp_certificate"], pem);
    assert!(connection["idp_certificate_issued_at"].is_i64());
    assert!(
        connection["idp_certificate_expires_at"].as_i64().unwrap()
            > connection["idp_certificate_issued_at"].as_i64().unwrap()
    );
    assert_eq!(connection["idp_metadata"], xml);
    assert_eq!(connection["active"], false);

    // Complete: it can be activated at once.
    let cid = id(&connection);
    let (status, active) = app
        .patch(
            &format!("/v1/saml_connections/{cid}"),
            json!({"active": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["active"], true);
    assert_eq!(active["authenticatable"], true);
}

async fn a_connection_is_created_from_a_metadata_url(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (pem, der) = certificate();
    let xml = idp_metadata(
        "https://remote.example.test/idp",
        "https://remote.example.test/sso",
        &der,
    );
    let base = serve("200 OK", xml.clone());
    let url = format!("{base}/metadata.xml");
    let connection = create(
        &app,
        json!({"name": "Fetched", "provider": "saml_google", "domains": ["fetched.example"],
               "idp_metadata_url": url}),
    )
    .await;
    assert_eq!(connection["idp_metadata_url"], url);
    assert_eq!(connection["idp_metadata"], xml);
    assert_eq!(
        connection["idp_entity_id"],
        "https://remote.example.test/idp"
    );
    assert_eq!(
        connection["idp_sso_url"],
        "https://remote.example.test/sso/redirect"
    );
    assert_eq!(connection["idp_certificate"], pem);
    assert!(connection["idp_certificate_expires_at"].is_i64());

    // A later update fetches the new metadata.
    let (pem2, der2) = certificate();
    let base2 = serve(
        "200 OK",
        idp_metadata(
            "https://remote.example.test/idp2",
            "https://remote.example.test/sso2",
            &der2,
        ),
    );
    let cid = id(&connection);
    let (status, changed) = app
        .patch(
            &format!("/v1/saml_connections/{cid}"),
            json!({"idp_metadata_url": format!("{base2}/m")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["idp_entity_id"], "https://remote.example.test/idp2");
    assert_eq!(
        changed["idp_sso_url"],
        "https://remote.example.test/sso2/redirect"
    );
    assert_eq!(changed["idp_certificate"], pem2);
}

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

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let existing = create(
        &app,
        json!({"name": "Existing", "provider": "saml_custom", "domains": ["taken.example"]}),
    )
    .await;
    let path = format!("/v1/saml_connections/{}", id(&existing));
    // A port nothing listens on, and a server that answers 404.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metadata", listener.local_addr().unwrap());
        drop(listener);
        url
    };
    let not_found = format!("{}/metadata", serve("404 Not Found", "nope".to_owned()));
    let not_metadata = format!(
        "{}/metadata",
        serve("200 OK", "<html>hello</html>".to_owned())
    );
    let (_, der) = certificate();
    let no_redirect = idp_metadata("https://idp.bad.test", "https://idp.bad.test/sso", &der)
        .replace("HTTP-Redirect", "HTTP-Artifact");
    let no_certificate = idp_metadata(
        "https://idp.bad.test",
        "https://idp.bad.test/sso",
        "bm90IGEgY2VydA==",
    );
    let before = app.settled_row_counts().await;

    let base = || json!({"name": "New", "provider": "saml_custom", "domains": ["new.example"]});
    let with = |key: &str, value: Value| {
        let mut body = base();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = base();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            without("name"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            with("name", json!("  ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            without("provider"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            without("domains"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            with("domains", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            with("provider", json!("saml_ping")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            with("domains", json!(["not a domain"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("domains", json!(["localhost"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("domains", json!(["-bad-.example"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("domains", json!(["ok.example", "a@b.example"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with(
                "idp_certificate",
                json!("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_certificate", json!("bm90IGEgY2VydA==")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata", json!("<not-metadata/>")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata", json!("not xml at all")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata", json!(no_redirect)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata", json!(no_certificate)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata_url", json!("not a url")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata_url", json!("ftp://idp.bad.test/metadata")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_metadata_url", json!(closed)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            with("idp_metadata_url", json!(not_found)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            with("idp_metadata_url", json!(not_metadata)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_sso_url", json!("not a url")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("idp_sso_url", json!("javascript:alert(1)")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            with("colour", json!("blue")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_unknown",
        ),
        (
            with("attribute_mapping", json!({"phone": "tel"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_unknown",
        ),
        (
            with("active", json!(true)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_unknown",
        ),
        (
            with("login_hint", json!({"mode": "loud"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            with("login_hint", json!({"mode": "custom_attribute"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            with("name", json!("x".repeat(3000))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_max_length_exceeded",
        ),
        (
            with("domains", json!(["Taken.Example"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
        ),
        (
            with("domains", json!(["fresh.example", "taken.example"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
        ),
        (
            with("domain", json!("taken.example")).tap_remove("domains"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
        ),
        (
            with("organization_id", json!("org_nothing")),
            StatusCode::NOT_FOUND,
            "resource_not_found",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.post("/v1/saml_connections", body.clone()).await;
        assert_eq!(response.0, status, "{body}: {}", response.1);
        assert_error(&response, status, code);
    }
    let taken = app
        .post(
            "/v1/saml_connections",
            with("domains", json!(["taken.example"])),
        )
        .await;
    let error = assert_error(
        &taken,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_exists",
    );
    assert_eq!(error["meta"]["param_name"], "domains");
    let org = app
        .post(
            "/v1/saml_connections",
            with("organization_id", json!("org_nothing")),
        )
        .await;
    let error = assert_error(&org, StatusCode::NOT_FOUND, "resource_not_found");
    assert_eq!(error["meta"]["param_name"], "organization_id");
    let unknown = app
        .post("/v1/saml_connections", with("colour", json!("blue")))
        .await;
    let error = assert_error(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_unknown",
    );
    assert_eq!(error["meta"]["param_name"], "colour");

    app.assert_rows_unchanged(&before, "refused SAML connections")
        .await;

    // The same refused on an update, which then changes nothing.
    let other = create(
        &app,
        json!({"name": "Other", "provider": "saml_custom", "domains": ["other.example"]}),
    )
    .await;
    let before = app.settled_row_counts().await;
    for (body, status, code) in [
        (
            json!({"provider": "saml_ping"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            json!({"domains": ["other.example"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
        ),
        (
            json!({"domains": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            json!({"domains": ["bad domain"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            json!({"idp_certificate": "garbage"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            json!({"idp_metadata": "<x/>"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            json!({"idp_sso_url": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            json!({"force_authn": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            json!({"colour": "blue"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_unknown",
        ),
        (
            json!({"organization_id": "org_nothing"}),
            StatusCode::NOT_FOUND,
            "resource_not_found",
        ),
        (
            json!({"active": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
    ] {
        let response = app.patch(&path, body.clone()).await;
        assert_eq!(response.0, status, "{body}: {}", response.1);
        assert_error(&response, status, code);
    }
    let (_, unchanged) = app.get(&path).await;
    assert_eq!(unchanged, existing, "refused updates change nothing");
    let (_, other_now) = app
        .get(&format!("/v1/saml_connections/{}", id(&other)))
        .await;
    assert_eq!(other_now, other);
    app.assert_rows_unchanged(&before, "refused SAML connection updates")
        .await;
}

/// `Value::tap_remove`: a body without one key.
trait TapRemove {
    fn tap_remove(self, key: &str) -> Self;
}

impl TapRemove for Value {
    fn tap_remove(mut self, key: &str) -> Self {
        self.as_object_mut().unwrap().remove(key);
        self
    }
}

async fn concurrent_claims_on_one_domain_make_one_connection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let responses = join_all((0..8).map(|i| {
        app.post(
            "/v1/saml_connections",
            json!({"name": format!("Racer {i}"), "provider": "saml_custom",
                   "domains": [format!("own{i}.example"), "contested.example"]}),
        )
    }))
    .await;
    let made = responses
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(made, 1, "{responses:?}");
    for response in responses.iter().filter(|(s, _)| *s != StatusCode::OK) {
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
        );
        assert_eq!(error["meta"]["param_name"], "domains");
    }
    let (_, all) = app.get("/v1/saml_connections").await;
    assert_eq!(all["total_count"], 1);
    assert_eq!(all["data"][0]["domains"].as_array().unwrap().len(), 2);

    // Two updates racing to take one new domain: one wins.
    let a = create(
        &app,
        json!({"name": "A", "provider": "saml_custom", "domains": ["a.example"]}),
    )
    .await;
    let b = create(
        &app,
        json!({"name": "B", "provider": "saml_custom", "domains": ["b.example"]}),
    )
    .await;
    let (path_a, path_b) = (
        format!("/v1/saml_connections/{}", id(&a)),
        format!("/v1/saml_connections/{}", id(&b)),
    );
    let (ra, rb) = futures_util::join!(
        app.patch(&path_a, json!({"domains": ["a.example", "prize.example"]})),
        app.patch(&path_b, json!({"domains": ["b.example", "prize.example"]})),
    );
    let wins = [&ra, &rb]
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(wins, 1, "{ra:?} {rb:?}");
    let (_, found) = app.get("/v1/saml_connections?query=prize.example").await;
    assert_eq!(found["total_count"], 1, "{found}");
}

async fn the_sp_metadata_is_served_on_the_frontend_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let connection = create(
        &app,
        json!({"name": "Metadata", "provider": "saml_custom", "domains": ["meta.example"]}),
    )
    .await;
    let cid = id(&connection);
    let response = app
        .http
        .get(format!("{}/v1/saml/metadata/{cid}.xml", app.frontend_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.contains("xml"), "{content_type}");
    let xml = response.text().await.unwrap();
    let entity: samael::metadata::EntityDescriptor =
        xml.parse().unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(
        entity.entity_id.as_deref(),
        connection["sp_entity_id"].as_str()
    );
    let sp = &entity.sp_sso_descriptors.as_ref().unwrap()[0];
    assert_eq!(
        sp.assertion_consumer_services[0].location,
        connection["acs_url"].as_str().unwrap()
    );
    assert_eq!(
        sp.assertion_consumer_services[0].binding,
        samael::metadata::HTTP_POST_BINDING
    );
    assert!(xml.contains("X509Certificate"), "{xml}");
    let certificate = sp.key_descriptors.as_ref().unwrap()[0]
        .key_info
        .x509_data
        .as_ref()
        .unwrap()
        .certificates[0]
        .clone();
    assert!(
        certificates::parse(&certificate).is_some(),
        "a real certificate"
    );

    // The same key for every connection, and on every fetch.
    let second = create(
        &app,
        json!({"name": "Metadata 2", "provider": "saml_custom", "domains": ["meta2.example"]}),
    )
    .await;
    let again = app
        .http
        .get(format!(
            "{}/v1/saml/metadata/{}.xml",
            app.frontend_url,
            id(&second)
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains(&certificate));

    for missing in [
        "/v1/saml/metadata/samlc_nothing.xml".to_owned(),
        format!("/v1/saml/metadata/{cid}"),
        "/v1/saml/metadata/nothing.xml".to_owned(),
    ] {
        let response = app
            .http
            .get(format!("{}{missing}", app.frontend_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}
