//! Each connection's SP metadata on the Frontend API.

use steward::modules::saml::certificates;

use super::{create, id};
use crate::common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_every_backend!(the_sp_metadata_is_served_on_the_frontend_api,);

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
