//! ForceAuthn: the AuthnRequest carries `ForceAuthn="true"` exactly when
//! the connection asks for it, and connections made before the column
//! existed read `force_authn: false` once migrated.

use reqwest::StatusCode;
use serde_json::json;

use super::{Sso, CONFIG, DOMAIN};
use crate::common::{Backend, TestApp};

on_every_backend!(
    force_authn_is_sent_exactly_when_asked,
    connections_from_before_the_column_read_false,
);

/// The AuthnRequest XML a new sign-in for `email` sends the browser with.
async fn authn_request(sso: &Sso<'_>, email: &str) -> String {
    let attempt = sso.start(email).await;
    steward::modules::saml::authn_request::decode_from_url(&attempt.idp_url)
        .expect("an AuthnRequest")
}

async fn force_authn(app: &TestApp, id: &str, on: Option<bool>) -> serde_json::Value {
    let path = format!("/v1/saml_connections/{id}");
    let (status, connection) = match on {
        Some(on) => app.patch(&path, json!({ "force_authn": on })).await,
        None => app.get(&path).await,
    };
    assert_eq!(status, StatusCode::OK, "{connection}");
    connection["force_authn"].clone()
}

async fn force_authn_is_sent_exactly_when_asked(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");
    assert_eq!(force_authn(&app, &sso.id, None).await, false);
    let request = authn_request(&sso, &email).await;
    assert!(!request.contains("ForceAuthn"), "{request}");

    assert_eq!(force_authn(&app, &sso.id, Some(true)).await, true);
    assert_eq!(force_authn(&app, &sso.id, None).await, true);
    let request = authn_request(&sso, &email).await;
    assert!(request.contains("ForceAuthn=\"true\""), "{request}");

    assert_eq!(force_authn(&app, &sso.id, Some(false)).await, false);
    let request = authn_request(&sso, &email).await;
    assert!(!request.contains("ForceAuthn"), "{request}");

    // Asked for at creation.
    let (status, created) = app
        .post(
            "/v1/saml_connections",
            json!({
                "name": "Forced",
                "provider": "saml_custom",
                "domains": ["forced-corp.com"],
                "force_authn": true,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["force_authn"], true, "{created}");
}

/// Runs `sql` on the primary database of `app`.
async fn execute(app: &TestApp, sql: &'static str) {
    use diesel::connection::SimpleConnection;
    let state = app.state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let pool = state.db.writable_pools().next().expect("the primary");
        let mut conn = pool.get_blocking().expect("connection");
        match &mut *conn {
            steward::db::DbConnection::Pg(c) => c.batch_execute(sql),
            steward::db::DbConnection::Sqlite(c) => c.batch_execute(sql),
        }
        .expect("SQL runs")
    })
    .await
    .unwrap();
}

async fn connections_from_before_the_column_read_false(backend: Backend) {
    let old = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&old, json!({"force_authn": true})).await;
    // Back to the schema before the column: its migration reverted (the
    // value set above goes with the column) and no longer recorded.
    execute(
        &old,
        "ALTER TABLE saml_connections DROP COLUMN force_authn; \
         DELETE FROM __diesel_schema_migrations WHERE version = 'saml:20261204000001';",
    )
    .await;

    // A Steward started on that database migrates it.
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_on(backend, dir, old.database_url.clone(), CONFIG).await;
    let sso = Sso { app: &app, ..sso };
    assert_eq!(force_authn(&app, &sso.id, None).await, false);
    let request = authn_request(&sso, &format!("alice@{DOMAIN}")).await;
    assert!(!request.contains("ForceAuthn"), "{request}");
}
