//! The Frontend API composition layer (`src/fapi/`): the session module
//! names no other product module, the client object it composes keeps its
//! exact shape, sign-in bookkeeping is done by the areas that sign in, and
//! the routes that moved out of the session module keep its toggle.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::fapi::FapiClient;
use crate::common::smtp::SmtpCapture;
use crate::common::{assert_error, Backend, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    the_client_object_keeps_its_shape,
    the_areas_that_sign_in_record_it_on_the_user,
    a_sign_up_records_its_sign_in_on_the_new_user,
    backend_sessions_need_a_known_user,
    a_disabled_session_module_has_none_of_its_routes,
);

const CONFIG: &str = "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n\
                      [session]\nmulti_session = true\n";

/// Every product area but the session module, present or announced.
const OTHER_AREAS: [(&str, &str); 8] = [
    ("users", "Users"),
    ("orgs", "Orgs"),
    ("signin", "Signin"),
    ("signup", "Signup"),
    ("billing", "Billing"),
    ("saml", "Saml"),
    ("oauth", "Oauth"),
    ("fraud", "Fraud"),
];

/// Names the session module may still use, as (file under
/// `src/modules/session/`, area): none, since the organization claims are
/// pushed into session-owned tables. An entry added here must be used;
/// the test fails while an entry is no longer needed.
const KNOWN_EXCEPTIONS: [(&str, &str); 0] = [];

#[test]
fn the_session_module_names_no_other_product_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/modules/session");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "the session module's sources are found");
    let mut found = BTreeSet::new();
    let mut offences = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for (number, line) in code.lines().enumerate() {
            for name in names_in(line) {
                if KNOWN_EXCEPTIONS.contains(&(relative.as_str(), name)) {
                    found.insert((relative.clone(), name));
                } else {
                    offences.push(format!(
                        "{relative}:{}: {name}: {}",
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "src/modules/session names other product modules (compose in src/fapi \
         instead):\n{}",
        offences.join("\n")
    );
    for (file, area) in KNOWN_EXCEPTIONS {
        assert!(
            found.contains(&(file.to_owned(), area)),
            "{file} no longer names {area}: remove it from KNOWN_EXCEPTIONS"
        );
    }
}

#[test]
fn the_scan_sees_every_way_of_naming_a_module() {
    let named = |line: &str| names_in(&code_of(line));
    assert_eq!(named("use crate::modules::users::service;"), ["users"]);
    assert_eq!(named("use crate::modules::{orgs, Module};"), ["orgs"]);
    assert_eq!(
        named("use crate::modules::{Module, signin::service};"),
        ["signin"]
    );
    assert_eq!(named("super::super::signup::service::get(s)"), ["signup"]);
    assert_eq!(named("state.db.for_module(Module::Users)"), ["users"]);
    assert_eq!(named("crate::fapi::envelope(s)"), ["the composition layer"]);
    assert_eq!(
        named("crate::bapi::configure_session_routes"),
        ["the composition layer"]
    );
    assert!(named("use crate::modules::{session, Module};").is_empty());
    assert!(named("Module::Session; users_of(x); super::store::deleted_users").is_empty());
    assert!(named("/// reads `crate::modules::users` and `crate::fapi`").is_empty());
    assert!(named("let a = 1; // modules::orgs").is_empty());
    assert!(named(r#"let url = "http://x"; super::users::f()"#) == ["users"]);
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source text without its comments (prose may name anything), line by
/// line; `//` inside a string literal is kept.
fn code_of(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut previous = ' ';
        let mut end = line.len();
        for (i, c) in line.char_indices() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            } else if c == '/' && previous == '/' {
                end = i - 1;
                break;
            }
            previous = c;
        }
        code.push_str(&line[..end]);
        code.push('\n');
    }
    code
}

/// The other areas (and the composition layers above the modules) that a
/// line of code names: by path (`modules::users`, `super::super::users`,
/// a `modules::{…}` group) or by module id (`Module::Users`).
fn names_in(line: &str) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (area, variant) in OTHER_AREAS {
        let by_path = [format!("modules::{area}"), format!("super::{area}")]
            .iter()
            .any(|path| contains_path(line, path));
        let in_group = line
            .match_indices("modules::{")
            .filter_map(|(at, open)| {
                let rest = &line[at + open.len()..];
                rest.find('}').map(|close| &rest[..close])
            })
            .any(|group| {
                group
                    .split(',')
                    .any(|item| item.trim().split("::").next() == Some(area))
            });
        if by_path || in_group || contains_path(line, &format!("Module::{variant}")) {
            names.push(area);
        }
    }
    if contains_path(line, "crate::fapi") || contains_path(line, "crate::bapi") {
        names.push("the composition layer");
    }
    names
}

/// Whether `line` holds `path` as a whole path segment (not as the start
/// of a longer name).
fn contains_path(line: &str, path: &str) -> bool {
    line.match_indices(path).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + path.len()..].chars().next();
        let part_of_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !part_of_name(before) && !part_of_name(after)
    })
}

async fn user(app: &TestApp, email: &str) -> String {
    let (status, user) = app
        .post(
            "/v1/users",
            json!({"email_address": [email], "password": PASSWORD, "first_name": "Test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

fn keys(object: &Value) -> BTreeSet<&str> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// The Frontend API client object's keys, as before the composition moved
/// out of the session module.
const CLIENT_KEYS: [&str; 11] = [
    "object",
    "id",
    "sessions",
    "sign_in",
    "sign_up",
    "last_active_session_id",
    "last_authentication_strategy",
    "cookie_expires_at",
    "captcha_bypass",
    "created_at",
    "updated_at",
];

/// The Frontend API session object's keys: the Backend API's and
/// `factor_verification_age`, `user`, `public_user_data`.
const SESSION_KEYS: [&str; 17] = [
    "object",
    "id",
    "user_id",
    "client_id",
    "status",
    "last_active_organization_id",
    "actor",
    "last_active_at",
    "expire_at",
    "abandon_at",
    "latest_activity",
    "factor_verification_age",
    "tasks",
    "created_at",
    "updated_at",
    "user",
    "public_user_data",
];

const PUBLIC_USER_DATA_KEYS: [&str; 6] = [
    "first_name",
    "last_name",
    "image_url",
    "has_image",
    "identifier",
    "profile_image_url",
];

/// Checks one Frontend API session object of `email`'s user, whose Backend
/// API form is `backend_user`.
fn check_session(session: &Value, email: &str, backend_user: &Value) {
    assert_eq!(keys(session), set(&SESSION_KEYS), "{session}");
    assert_eq!(session["object"], "session");
    assert_eq!(session["status"], "active");
    assert_eq!(session["user_id"], backend_user["id"]);
    assert_eq!(session["factor_verification_age"], json!([0, -1]));
    let mut frontend_user_keys = keys(backend_user);
    assert!(frontend_user_keys.remove("private_metadata"));
    assert_eq!(keys(&session["user"]), frontend_user_keys, "{session}");
    assert_eq!(session["user"]["id"], backend_user["id"]);
    let public = &session["public_user_data"];
    assert_eq!(keys(public), set(&PUBLIC_USER_DATA_KEYS), "{public}");
    assert_eq!(public["identifier"], email);
    assert_eq!(public["first_name"], "Test");
}

/// A signed-in client with two sessions (multi-session) and a sign-in in
/// progress: `GET /v1/client`, every envelope, a session's `/touch` and
/// `/v1/me/sessions` show the same objects, key for key.
async fn the_client_object_keeps_its_shape(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let first_id = user(&app, "first@example.com").await;
    let second_id = user(&app, "second@example.com").await;
    user(&app, "third@example.com").await;
    let (_, first_user) = app.get(&format!("/v1/users/{first_id}")).await;
    let (_, second_user) = app.get(&format!("/v1/users/{second_id}")).await;
    let mut browser = FapiClient::web(&app);
    let first = browser.sign_in("first@example.com", PASSWORD).await;
    let second = browser.sign_in("second@example.com", PASSWORD).await;
    let (status, started) = browser
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "third@example.com")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");

    let (status, body) = browser.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), set(&["response", "client"]));
    assert_eq!(
        body["response"], body["client"],
        "the client is the response"
    );
    let client = &body["response"];
    assert_eq!(keys(client), set(&CLIENT_KEYS), "{client}");
    assert_eq!(client["object"], "client");
    assert_eq!(client["last_active_session_id"], second.as_str());
    assert_eq!(client["last_authentication_strategy"], "password");
    assert_eq!(
        client["sign_in"], started["response"],
        "the current sign-in"
    );
    assert_eq!(client["sign_up"], Value::Null);
    assert_eq!(client["captcha_bypass"], false);
    let sessions = client["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{client}");
    assert_eq!(sessions[0]["id"], first.as_str());
    assert_eq!(sessions[1]["id"], second.as_str());
    check_session(&sessions[0], "first@example.com", &first_user);
    check_session(&sessions[1], "second@example.com", &second_user);

    // Every other envelope carries the same client.
    let sign_in_id = started["response"]["id"].as_str().unwrap();
    let (_, fetched) = browser
        .get(&format!("/v1/client/sign_ins/{sign_in_id}"))
        .await;
    assert_eq!(fetched["client"], *client);

    // A session's own answers show it with its user, as the client does.
    let (status, touched) = browser
        .post(&format!("/v1/client/sessions/{first}/touch"), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{touched}");
    check_session(&touched["response"], "first@example.com", &first_user);
    assert_eq!(touched["client"]["sessions"][0]["id"], first.as_str());
    let (status, mine) = browser
        .get(&format!(
            "/v1/me/sessions/active?_clerk_session_id={second}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    check_session(&mine[0], "second@example.com", &second_user);

    // Ending a session answers with it, and the client without it.
    let (status, ended) = browser
        .post(&format!("/v1/client/sessions/{first}/end"), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["response"]["status"], "ended");
    assert_eq!(keys(&ended["response"]), set(&SESSION_KEYS));
    let remaining = ended["client"]["sessions"].as_array().unwrap();
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], second.as_str());
}

/// `last_sign_in_at` is recorded by the areas that sign in: a password
/// sign-in and an email-code sign-in set it; a Backend API session, which
/// is no sign-in, leaves it as it was.
async fn the_areas_that_sign_in_record_it_on_the_user(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "kept@example.com").await;
    let path = format!("/v1/users/{user_id}");
    let (_, fresh) = app.get(&path).await;
    assert_eq!(fresh["last_sign_in_at"], Value::Null);

    let (status, _) = app.post("/v1/sessions", json!({"user_id": user_id})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after_backend) = app.get(&path).await;
    assert_eq!(after_backend["last_sign_in_at"], Value::Null, "no sign-in");

    let mut phone = FapiClient::native(&app);
    phone.sign_in("kept@example.com", PASSWORD).await;
    let (_, signed_in) = app.get(&path).await;
    let at = signed_in["last_sign_in_at"].as_i64().expect("recorded");
    assert!(at >= fresh["created_at"].as_i64().unwrap());
    assert_eq!(signed_in["last_active_at"], at);
}

/// A completed sign-up's session is the new user's first sign-in, recorded
/// by the sign-up area with its strategy.
async fn a_sign_up_records_its_sign_in_on_the_new_user(backend: Backend) {
    let smtp = SmtpCapture::start();
    let config = format!("{CONFIG}[email]\nsmtp_url = \"{}\"\n", smtp.url);
    let app = TestApp::spawn_with(backend, &config).await;
    let mut phone = FapiClient::native(&app);
    let (status, body) = phone
        .post(
            "/v1/client/sign_ups",
            &[("email_address", "new@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let (status, prepared) = phone
        .post(
            &format!("/v1/client/sign_ups/{id}/prepare_verification"),
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{prepared}");
    let message = smtp.wait_for_message("new@example.com", std::time::Duration::from_secs(10));
    let text = message
        .split("Content-Type: text/plain")
        .nth(1)
        .expect("a text part");
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .expect("a code");
    let (status, done) = phone
        .post(
            &format!("/v1/client/sign_ups/{id}/attempt_verification"),
            &[("strategy", "email_code"), ("code", code)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["response"]["status"], "complete", "{done}");
    let session = &done["client"]["sessions"][0];
    assert!(session["user"]["last_sign_in_at"].is_i64(), "{session}");
    let user_id = done["response"]["created_user_id"].as_str().unwrap();
    let (_, user) = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(user["last_sign_in_at"], session["user"]["last_sign_in_at"]);
}

/// `POST /v1/sessions` checks the user through the users service before the
/// session service creates anything.
async fn backend_sessions_need_a_known_user(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let before = app.settled_row_counts().await;
    let unknown = app
        .post(
            "/v1/sessions",
            json!({"user_id": "user_2unknownunknownunknown0"}),
        )
        .await;
    let error = assert_error(&unknown, StatusCode::NOT_FOUND, "resource_not_found");
    assert_eq!(error["meta"]["param_name"], "user_id", "{error}");
    app.assert_rows_unchanged(&before, "a session for an unknown user")
        .await;
    assert_error(
        &app.post("/v1/sessions", json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_missing",
    );

    let user_id = user(&app, "known@example.com").await;
    let (status, session) = app.post("/v1/sessions", json!({"user_id": user_id})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["object"], "session");
    assert_eq!(session["user_id"], user_id.as_str());
    assert_eq!(session["status"], "active");
    assert!(session.get("user").is_none(), "the Backend API form");
}

/// The routes composed in `src/fapi` and `src/bapi.rs` are the session
/// module's: with it switched off they answer 404 like its own.
async fn a_disabled_session_module_has_none_of_its_routes(backend: Backend) {
    let config = format!("{CONFIG}[modules.session]\nenabled = false\n");
    let app = TestApp::spawn_with(backend, &config).await;
    let user_id = user(&app, "off@example.com").await;
    assert_error(
        &app.post("/v1/sessions", json!({"user_id": user_id})).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let mut browser = FapiClient::web(&app);
    for (method, path) in [
        (Method::GET, "/v1/client"),
        (Method::DELETE, "/v1/client"),
        (Method::DELETE, "/v1/client/sessions"),
        (Method::POST, "/v1/client/sessions/sess_x/touch"),
        (Method::POST, "/v1/client/sessions/sess_x/end"),
        (Method::POST, "/v1/client/sessions/sess_x/remove"),
        (Method::POST, "/v1/client/sessions/sess_x/tokens"),
    ] {
        let response = browser.call(method.clone(), path, &[]).await;
        assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
    }
}
