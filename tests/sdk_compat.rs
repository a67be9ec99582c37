//! Runs Clerk's own `@clerk/backend` SDK (tests/sdk, pinned in package.json)
//! against Steward, on SQLite and PostgreSQL. Needs Node.js and
//! `npm ci` in tests/sdk (make test does both); fails loudly without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{Backend, TestApp};

on_both_backends!(clerk_backend_sdk_users);

async fn clerk_backend_sdk_users(backend: Backend) {
    let sdk_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    let modules = sdk_dir.join("node_modules/@clerk/backend");
    assert!(
        modules.is_dir(),
        "@clerk/backend is not installed: run `make test-deps` (npm ci in tests/sdk)"
    );
    let app = TestApp::spawn(backend).await;
    let (url, key) = (app.backend_url.clone(), app.secret_key.clone());
    let output = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("--test")
            .arg("--test-reporter=spec")
            .arg("users.test.mjs")
            .current_dir(&sdk_dir)
            .env("STEWARD_BAPI_URL", url)
            .env("STEWARD_SECRET_KEY", key)
            .env("CLERK_TELEMETRY_DISABLED", "1")
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
        "@clerk/backend checks failed on {backend:?}:\n{report}"
    );
}
