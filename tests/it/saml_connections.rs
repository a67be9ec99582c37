//! SAML connections on the Backend API (`/v1/saml_connections`): created
//! from fields, from pasted IdP metadata and from a metadata URL; listed,
//! changed and deleted; bad input refused without a change; a domain
//! served by one connection only, even when claimed concurrently; and each
//! connection's SP metadata on the Frontend API. On every backend.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use steward::modules::saml::certificates;

mod changes;
mod refusals;
mod sp_metadata;

on_every_backend!(
    a_connection_is_created_from_fields,
    a_connection_is_created_from_pasted_metadata,
    a_connection_is_created_from_a_metadata_url,
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
