//! Bad input refused without a change, and one connection per domain
//! even when claimed concurrently.

use std::net::TcpListener;

use super::{certificate, create, id, idp_metadata, serve};
use crate::common::{assert_error, Backend, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_every_backend!(
    bad_input_is_refused_and_changes_nothing,
    concurrent_claims_on_one_domain_make_one_connection,
);

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
