//! Runs Clerk's own `@clerk/backend` SDK (tests/sdk, pinned in package.json)
//! against Steward, on SQLite and PostgreSQL. Needs Node.js and
//! `npm ci` in tests/sdk (make test does both); fails loudly without them.

use std::path::Path;

use crate::common::{Backend, TestApp};

on_every_backend!(
    clerk_backend_sdk_users,
    clerk_backend_sdk_sessions,
    clerk_backend_sdk_organizations,
    clerk_backend_sdk_saml_connections
);

/// Runs one node test file against `app` with extra environment variables.
pub(crate) async fn run_node(
    app: &TestApp,
    file: &'static str,
    extra: Vec<(&'static str, String)>,
) {
    let sdk_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    let modules = sdk_dir.join("node_modules/@clerk/backend");
    assert!(
        modules.is_dir(),
        "@clerk/backend is not installed: run `make test-deps` (npm ci in tests/sdk)"
    );
    let mut env = vec![
        ("STEWARD_BAPI_URL", app.backend_url.clone()),
        ("STEWARD_FAPI_URL", app.frontend_url.clone()),
        ("STEWARD_SECRET_KEY", app.secret_key.clone()),
        ("CLERK_TELEMETRY_DISABLED", "1".to_owned()),
    ];
    env.extend(extra);
    let output = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("--test")
            .arg("--test-reporter=spec")
            .arg(file)
            .current_dir(&sdk_dir)
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (install Node.js 20+)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "@clerk/backend {file} failed:\n{report}"
    );
}

async fn clerk_backend_sdk_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    run_node(&app, "users.test.mjs", Vec::new()).await;
}

async fn clerk_backend_sdk_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user) = app
        .post("/v1/users", serde_json::json!({"email_address": ["sdk.session@example.com"], "password": "a long password"}))
        .await;
    let user_id = user["id"].as_str().expect("user id").to_owned();
    run_node(
        &app,
        "sessions.test.mjs",
        vec![("STEWARD_USER_ID", user_id)],
    )
    .await;
}

async fn clerk_backend_sdk_organizations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for email in ["sdk.owner@example.com", "sdk.member@example.com"] {
        let (_, user) = app
            .post(
                "/v1/users",
                serde_json::json!({"email_address": [email], "password": "a long password"}),
            )
            .await;
        ids.push(user["id"].as_str().expect("user id").to_owned());
    }
    let other = ids.pop().expect("two users");
    let owner = ids.pop().expect("two users");
    run_node(
        &app,
        "organizations.test.mjs",
        vec![("STEWARD_USER_ID", owner), ("STEWARD_OTHER_USER_ID", other)],
    )
    .await;
}

async fn clerk_backend_sdk_saml_connections(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, certificate) =
        steward::modules::saml::certificates::generate_sp_credentials("idp.sdk.example")
            .expect("certificate");
    let pem = steward::modules::saml::certificates::to_pem(&certificate).expect("PEM");
    run_node(
        &app,
        "saml.test.mjs",
        vec![("STEWARD_IDP_CERTIFICATE", pem)],
    )
    .await;
}
