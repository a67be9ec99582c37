//! Conformance of the Backend API to Clerk's OpenAPI spec: schemathesis
//! (from the tools venv `make test-deps` builds) generates requests for
//! every operation in `tests/conformance/operations.txt` from the vendored
//! spec, stateful sequences through the links it infers included, against
//! Steward on SQLite and on PostgreSQL, and the test fails on any finding:
//! a server error, a response that breaks the spec's schema for its status,
//! or a wrong content type or header. A missing schemathesis fails the
//! test; it never skips.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The checks run on every response: no server error, the body valid
/// against the spec's schema for its status, the documented content type
/// and headers. Not run: `status_code_conformance` (Clerk's spec leaves 401
/// and most 422s out of most operations, so every missing-key or
/// bad-parameter case would be reported), the positive/negative data
/// checks (the spec types most filters and bodies as free strings or
/// optional, which Steward validates, as Clerk does, with a 422; an absent
/// PATCH body is an empty one), `unsupported_method` (a method no route
/// has is a 404 here) and the resource checks (its inferred links pair
/// objects that do not belong together, such as any user with any
/// organization's membership).
const CHECKS: &str = "not_a_server_error,response_schema_conformance,content_type_conformance,\
                      response_headers_conformance";
/// Generated cases per operation and phase, unless
/// `STEWARD_CONFORMANCE_EXAMPLES` says otherwise: bounded so the run takes
/// a few minutes.
const EXAMPLES: &str = "40";
/// The generation seed, unless `STEWARD_CONFORMANCE_SEED` says otherwise:
/// fixed, so a run is reproducible.
const SEED: &str = "20261202";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One line of the operation list: the operation and its pinned parameters.
struct Operation {
    name: String,
    pins: Vec<(String, String)>,
}

fn operations(path: &Path) -> Vec<Operation> {
    let text = std::fs::read_to_string(path).expect("read the operation list");
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let method = words.next().unwrap();
            let path = words.next().unwrap_or_else(|| panic!("no path: {line}"));
            assert!(
                ["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method)
                    && path.starts_with('/'),
                "not `METHOD /path`: {line}"
            );
            let pins = words
                .map(|pin| {
                    let (key, value) = pin
                        .split_once('=')
                        .unwrap_or_else(|| panic!("not `location.name=value`: {pin}"));
                    (key.to_owned(), value.to_owned())
                })
                .collect();
            Operation {
                name: format!("{method} {path}"),
                pins,
            }
        })
        .collect()
}

/// A TOML value: booleans and integers bare, anything else a string.
fn toml_value(value: &str) -> String {
    if value == "true" || value == "false" || value.parse::<i64>().is_ok() {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, object) = app.post(path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {object}");
    object
}

fn id(object: &Value) -> String {
    object["id"].as_str().expect("id").to_owned()
}

/// The objects the path parameters name: one of each kind, plus separate
/// ones for the operations that delete or end them, so every other
/// operation keeps finding its object.
async fn fixtures(
    app: &TestApp,
) -> (
    Vec<(&'static str, String)>,
    Vec<(&'static str, &'static str, String)>,
) {
    let user = |email: &str| json!({"email_address": [email], "password": "a long password", "username": email.split('@').next().unwrap(), "first_name": "Conformance"});
    let owner = id(&created(app, "/v1/users", user("owner@example.com")).await);
    let member = id(&created(app, "/v1/users", user("member@example.com")).await);
    let doomed = id(&created(app, "/v1/users", user("doomed@example.com")).await);
    let moderated = id(&created(app, "/v1/users", user("moderated@example.com")).await);
    let org = created(
        app,
        "/v1/organizations",
        json!({"name": "Conformance", "created_by": owner, "max_allowed_memberships": 0}),
    )
    .await;
    let org = id(&org);
    created(
        app,
        &format!("/v1/organizations/{org}/memberships"),
        json!({"user_id": member, "role": "org:member"}),
    )
    .await;
    let doomed_org = id(&created(app, "/v1/organizations", json!({"name": "Doomed"})).await);
    let invitation = |email: &str| json!({"email_address": email, "role": "org:member"});
    let path = format!("/v1/organizations/{org}/invitations");
    let invited = id(&created(app, &path, invitation("invited@example.com")).await);
    let revoked = id(&created(app, &path, invitation("revoked@example.com")).await);
    let role = |key: &str| json!({"name": key, "key": format!("org:{key}")});
    let role_id = id(&created(app, "/v1/organization_roles", role("editor")).await);
    let doomed_role = id(&created(app, "/v1/organization_roles", role("doomed")).await);
    let permission = |key: &str| json!({"name": key, "key": format!("org:{key}:manage")});
    let permission_id = id(&created(app, "/v1/organization_permissions", permission("docs")).await);
    let doomed_permission =
        id(&created(app, "/v1/organization_permissions", permission("doomed")).await);
    let session = created(app, "/v1/sessions", json!({"user_id": owner})).await;
    let client = session["client_id"].as_str().unwrap().to_owned();
    let ended = id(&created(app, "/v1/sessions", json!({"user_id": owner})).await);
    let token = id(&created(app, "/v1/sign_in_tokens", json!({"user_id": owner})).await);
    let everywhere = vec![
        ("user_id", owner),
        ("organization_id", org),
        ("invitation_id", invited),
        ("organization_role_id", role_id),
        ("permission_id", permission_id),
        ("session_id", id(&session)),
        ("client_id", client),
        ("sign_in_token_id", token),
    ];
    let mut per_operation = vec![
        ("DELETE /users/{user_id}", "user_id", doomed),
        (
            "DELETE /organizations/{organization_id}",
            "organization_id",
            doomed_org,
        ),
        (
            "DELETE /organizations/{organization_id}/memberships/{user_id}",
            "user_id",
            member,
        ),
        (
            "POST /organizations/{organization_id}/invitations/{invitation_id}/revoke",
            "invitation_id",
            revoked,
        ),
        (
            "DELETE /organization_roles/{organization_role_id}",
            "organization_role_id",
            doomed_role,
        ),
        (
            "DELETE /organization_permissions/{permission_id}",
            "permission_id",
            doomed_permission,
        ),
        ("POST /sessions/{session_id}/revoke", "session_id", ended),
    ];
    for name in [
        "POST /users/{user_id}/ban",
        "POST /users/{user_id}/unban",
        "POST /users/{user_id}/lock",
        "POST /users/{user_id}/unlock",
    ] {
        per_operation.push((name, "user_id", moderated.clone()));
    }
    (everywhere, per_operation)
}

/// schemathesis's configuration: the fixtures' ids as path parameters and
/// the operation list's pins.
fn config(
    everywhere: &[(&str, String)],
    per_operation: &[(&str, &str, String)],
    operations: &[Operation],
) -> String {
    let mut toml = String::from("[parameters]\n");
    for (name, value) in everywhere {
        writeln!(toml, "\"path.{name}\" = {value:?}").unwrap();
    }
    for operation in operations {
        let mut parameters: Vec<String> = operation
            .pins
            .iter()
            .map(|(key, value)| format!("{key:?} = {}", toml_value(value)))
            .collect();
        parameters.extend(
            per_operation
                .iter()
                .filter(|(name, _, _)| *name == operation.name)
                .map(|(_, param, value)| format!("\"path.{param}\" = {value:?}")),
        );
        if !parameters.is_empty() {
            writeln!(
                toml,
                "\n[[operations]]\ninclude-name = {:?}\nparameters = {{ {} }}",
                operation.name,
                parameters.join(", ")
            )
            .unwrap();
        }
    }
    toml
}

/// On SQLite, as the spec's conformance check asks, and on PostgreSQL,
/// whose stricter text type turned some inputs SQLite took into errors.
#[actix_web::test]
async fn backend_api_on_sqlite_conforms_to_clerks_spec() {
    conforms(Backend::Sqlite).await;
}

#[actix_web::test]
async fn backend_api_on_postgres_conforms_to_clerks_spec() {
    conforms(Backend::Postgres).await;
}

async fn conforms(backend: Backend) {
    let schemathesis = repo().join(".tools/venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run `make test-deps` (it installs the pinned schemathesis)",
        schemathesis.display()
    );
    let operations = operations(&repo().join("tests/conformance/operations.txt"));
    let app = TestApp::spawn(backend).await;
    let (everywhere, per_operation) = fixtures(&app).await;
    let config_file = app.dir.path().join("schemathesis.toml");
    std::fs::write(
        &config_file,
        config(&everywhere, &per_operation, &operations),
    )
    .expect("write the schemathesis configuration");

    let mut command = Command::new(&schemathesis);
    command
        .current_dir(app.dir.path())
        .arg("--config-file")
        .arg(&config_file)
        .arg("--no-color")
        .arg("run")
        .arg(repo().join("tests/conformance/clerk-openapi/bapi-2026-05-12.yml"))
        .arg("--url")
        .arg(format!("{}/v1", app.backend_url))
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", app.secret_key))
        .arg("--checks")
        .arg(CHECKS)
        .arg("--max-examples")
        .arg(std::env::var("STEWARD_CONFORMANCE_EXAMPLES").unwrap_or_else(|_| EXAMPLES.into()))
        .arg("--seed")
        .arg(std::env::var("STEWARD_CONFORMANCE_SEED").unwrap_or_else(|_| SEED.into()))
        .arg("--workers")
        .arg("2");
    for operation in &operations {
        command.arg("--include-name").arg(&operation.name);
    }
    // The server runs on this test's runtime: wait for the child off it.
    let output = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // A run that tested nothing would also exit 0.
    let tested = format!("Tested: {}", operations.len());
    assert!(
        stdout.contains(&tested),
        "expected `{tested}` in the summary:\n{stdout}"
    );
}
