//! What the session area needs from other areas (organization claims, the
//! users its client objects show) is pushed to it through the outbox and
//! read from its own tables: token claims follow role changes once
//! delivered, switching organization needs a membership the session area
//! knows of, the client object shows users as the users area does, and
//! with the session area on its own database, it keeps working while the
//! main database is down and catches up, once, after its own was down.

use std::time::{Duration, Instant};

use crate::common::fapi::FapiClient;
use crate::common::jwt_claims as claims;
use crate::common::postgres::PgPair;
use crate::common::{user, Backend, TestApp, PASSWORD};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use steward::db::schema::{
    outbox, outbox_backfills, outbox_versions, session_org_claims, session_users,
};
use steward::modules::Module;

on_every_backend!(
    role_change_reaches_the_next_token,
    switching_needs_a_membership,
    client_shows_users_as_the_users_area_does,
    data_from_before_the_outbox_is_filled_on_start,
);

/// No token reuse: every token reads its session.
const NO_REUSE: &str = "[session]\ntoken_reuse_seconds = 0\n";

/// An organization created by `owner`, with `member` in it as `org:member`.
async fn organization(app: &TestApp, name: &str, owner: &str, member: Option<&str>) -> String {
    let (status, org) = app
        .post(
            "/v1/organizations",
            json!({"name": name, "created_by": owner}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    let org_id = org["id"].as_str().unwrap().to_owned();
    if let Some(member) = member {
        let (status, body) = app
            .post(
                &format!("/v1/organizations/{org_id}/memberships"),
                json!({"user_id": member, "role": "org:member"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    org_id
}

/// Asks for tokens until one's claims satisfy `wanted`, for at most
/// `within`; returns those claims.
async fn poll_token(
    phone: &mut FapiClient<'_>,
    session: &str,
    within: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, token) = phone.token(session).await;
        if status == StatusCode::OK {
            let claims = claims(token["jwt"].as_str().unwrap());
            if wanted(&claims) {
                return claims;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no token as wanted within {within:?}: {status} {token}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn touch(phone: &mut FapiClient<'_>, session: &str, org: &str) -> (StatusCode, Value) {
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org)],
        )
        .await
}

async fn change_role(app: &TestApp, org_id: &str, user_id: &str, role: &str) {
    let (status, body) = app
        .patch(
            &format!("/v1/organizations/{org_id}/memberships/{user_id}"),
            json!({"role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The versions of the session area's claims rows for the pair.
async fn applied_versions(app: &TestApp, user_id: &str, org_id: &str) -> Vec<i64> {
    let state = app.state.clone();
    let (user_id, org_id) = (user_id.to_owned(), org_id.to_owned());
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.for_module(Module::Session).get_blocking().unwrap();
        session_org_claims::table
            .filter(session_org_claims::user_id.eq(&user_id))
            .filter(session_org_claims::organization_id.eq(&org_id))
            .select(session_org_claims::version)
            .load(&mut *conn)
            .unwrap()
    })
    .await
    .unwrap()
}

/// The version the orgs area's outbox last gave the pair's claims, and how
/// many of its rows still wait for delivery.
async fn outbox_state(app: &TestApp, user_id: &str, org_id: &str) -> (i64, i64) {
    let state = app.state.clone();
    let entity = format!("orgs/{org_id}/{user_id}");
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.for_module(Module::Orgs).get_blocking().unwrap();
        let latest: i64 = outbox_versions::table
            .filter(outbox_versions::entity.eq(&entity))
            .select(outbox_versions::version)
            .first(&mut *conn)
            .unwrap();
        let waiting: i64 = outbox::table
            .filter(outbox::entity.eq(&entity))
            .filter(outbox::delivered_at.is_null())
            .count()
            .get_result(&mut *conn)
            .unwrap();
        (latest, waiting)
    })
    .await
    .unwrap()
}

async fn role_change_reaches_the_next_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, NO_REUSE).await;
    let owner = user(&app, "owner@example.com").await;
    let member = user(&app, "member@example.com").await;
    let org_id = organization(&app, "Team", &owner, Some(&member)).await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("member@example.com", PASSWORD).await;
    let (status, body) = touch(&mut phone, &session, &org_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = poll_token(&mut phone, &session, Duration::from_secs(10), |c| {
        c["o"]["id"] == org_id.as_str()
    })
    .await;
    assert_eq!(before["o"]["rol"], "member");

    change_role(&app, &org_id, &member, "org:admin").await;
    let after = poll_token(&mut phone, &session, Duration::from_secs(10), |c| {
        c["o"]["rol"] == "admin"
    })
    .await;
    assert_eq!(after["o"]["id"], org_id.as_str());
    let (latest, waiting) = outbox_state(&app, &member, &org_id).await;
    assert_eq!(
        applied_versions(&app, &member, &org_id).await,
        vec![latest],
        "one row, at the latest version"
    );
    assert_eq!(waiting, 0, "nothing left in the outbox");
}

async fn switching_needs_a_membership(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = user(&app, "owner@example.com").await;
    let member = user(&app, "member@example.com").await;
    let theirs = organization(&app, "Theirs", &owner, Some(&member)).await;
    let other = organization(&app, "Other", &owner, None).await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("member@example.com", PASSWORD).await;

    let (status, body) = touch(&mut phone, &session, &theirs).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["response"]["last_active_organization_id"],
        theirs.as_str()
    );
    let (status, body) = touch(&mut phone, &session, &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["errors"][0]["code"], "resource_not_found");
    // By slug too, as before.
    let (status, body) = touch(&mut phone, &session, "theirs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["response"]["last_active_organization_id"],
        theirs.as_str()
    );

    // A former member cannot switch back.
    let (status, body) = app
        .delete(&format!("/v1/organizations/{theirs}/memberships/{member}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = touch(&mut phone, &session, &theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, session_object) = app.get(&format!("/v1/sessions/{session}")).await;
    assert_eq!(session_object["last_active_organization_id"], Value::Null);
}

/// Asserts that `shown` and `expected` have the same keys and values.
#[track_caller]
fn assert_same_keys(shown: &Value, expected: &Value, what: &str) {
    let (shown, expected) = (shown.as_object().unwrap(), expected.as_object().unwrap());
    let mut keys: Vec<&String> = shown.keys().chain(expected.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        assert_eq!(shown.get(key), expected.get(key), "{what}: {key}");
    }
}

async fn client_shows_users_as_the_users_area_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, created) = app
        .post(
            "/v1/users",
            json!({
                "email_address": ["shown@example.com"],
                "password": PASSWORD,
                "first_name": "Grace",
                "last_name": "Hopper",
                "username": "grace",
                "public_metadata": {"team": "compilers"},
                "unsafe_metadata": {"theme": "dark"},
                "private_metadata": {"secret": 1},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let user_id = created["id"].as_str().unwrap().to_owned();
    let mut phone = FapiClient::native(&app);
    phone.sign_in("shown@example.com", PASSWORD).await;
    let (status, added) = phone
        .post(
            "/v1/me/email_addresses",
            &[("email_address", "second@example.com")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let (status, _) = app
        .patch(
            &format!("/v1/users/{user_id}"),
            json!({"first_name": "Amazing Grace"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // `/v1/me` reads the users area; the client its envelope carries is the
    // session area's copy.
    let (status, me) = phone.get("/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let user = &me["response"];
    assert_eq!(user["first_name"], "Amazing Grace");
    assert_eq!(user["email_addresses"].as_array().unwrap().len(), 2);
    assert!(user.get("private_metadata").is_none());
    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let session = &client["response"]["sessions"][0];
    assert_same_keys(&session["user"], user, "the client's user");
    assert_same_keys(
        &session["public_user_data"],
        &json!({
            "first_name": "Amazing Grace",
            "last_name": "Hopper",
            "image_url": "",
            "has_image": false,
            "identifier": "shown@example.com",
            "profile_image_url": "",
        }),
        "the session's public user data",
    );
}

/// An instance upgraded from before the outbox: its session tables are
/// empty and nothing was ever written to the outbox. The first start fills
/// them from the memberships and users that exist.
async fn data_from_before_the_outbox_is_filled_on_start(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let owner = user(&first, "owner@example.com").await;
    let member = user(&first, "member@example.com").await;
    let org_id = organization(&first, "Team", &owner, Some(&member)).await;
    let mut phone = FapiClient::native(&first);
    let session = phone.sign_in("member@example.com", PASSWORD).await;

    let state = first.state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::delete(session_org_claims::table)
            .execute(&mut *conn)
            .unwrap();
        diesel::delete(session_users::table)
            .execute(&mut *conn)
            .unwrap();
        diesel::delete(outbox::table).execute(&mut *conn).unwrap();
        diesel::delete(outbox_versions::table)
            .execute(&mut *conn)
            .unwrap();
        diesel::delete(outbox_backfills::table)
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    assert!(
        client["response"]["sessions"][0].get("user").is_none(),
        "the session area has no copy yet: {client}"
    );
    let (status, body) = touch(&mut phone, &session, &org_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no claims yet: {body}");

    let dir = tempfile::tempdir().unwrap();
    let _second = TestApp::spawn_on(backend, dir, first.database_url.clone(), "").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, client) = phone.get("/v1/client").await;
        assert_eq!(status, StatusCode::OK, "{client}");
        if client["response"]["sessions"][0]["user"]["id"] == member.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "users never filled: {client}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = touch(&mut phone, &session, &org_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, token) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(claims(token["jwt"].as_str().unwrap())["o"]["rol"], "member");
    let (_, waiting) = outbox_state(&first, &owner, &org_id).await;
    assert_eq!(
        waiting, 0,
        "every membership was delivered, the owner's too"
    );
    assert_eq!(applied_versions(&first, &owner, &org_id).await, vec![1]);
}

/// Role changes racing on PostgreSQL, each request delivering the outbox
/// as the others do: whatever order the deliveries land in, the session
/// area ends with the role of the change that committed last, applied at
/// the last version, and nothing left waiting.
#[actix_web::test]
async fn racing_changes_and_deliveries_end_in_the_last_committed_state() {
    let app = TestApp::spawn_with(Backend::Postgres, NO_REUSE).await;
    let owner = user(&app, "owner@example.com").await;
    let member = user(&app, "member@example.com").await;
    let org_id = organization(&app, "Team", &owner, Some(&member)).await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("member@example.com", PASSWORD).await;
    let (status, body) = touch(&mut phone, &session, &org_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let changes = (0..12).map(|i| {
        let role = if i % 2 == 0 {
            "org:admin"
        } else {
            "org:member"
        };
        change_role(&app, &org_id, &member, role)
    });
    futures_util::future::join_all(changes).await;

    let (status, memberships) = app
        .get(&format!(
            "/v1/organizations/{org_id}/memberships?user_id={member}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{memberships}");
    let role = memberships["data"][0]["role"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let latest = loop {
        let (latest, waiting) = outbox_state(&app, &member, &org_id).await;
        if waiting == 0 {
            break latest;
        }
        assert!(Instant::now() < deadline, "{waiting} rows never delivered");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    let (status, token) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let claims = claims(token["jwt"].as_str().unwrap());
    assert_eq!(claims["o"]["id"], org_id.as_str());
    assert_eq!(claims["o"]["rol"], role.strip_prefix("org:").unwrap());
    assert_eq!(
        applied_versions(&app, &member, &org_id).await,
        vec![latest],
        "the last version is the one kept"
    );
}

/// Steward with the session area on the primary of `session`, everything
/// else on `main`, and no token reuse.
async fn split_app(main: String, session: &PgPair) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{NO_REUSE}[database.modules.session]\nurl = \"{}\"\n",
        session.primary_url
    );
    TestApp::spawn_on(Backend::Postgres, dir, main, &config).await
}

#[actix_web::test]
async fn the_session_area_keeps_working_while_the_main_database_is_down() {
    let main = PgPair::start();
    let session_db = PgPair::start();
    let app = split_app(main.primary_url.clone(), &session_db).await;
    let owner = user(&app, "owner@example.com").await;
    let member = user(&app, "member@example.com").await;
    let theirs = organization(&app, "Theirs", &owner, Some(&member)).await;
    let other = organization(&app, "Other", &owner, None).await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("member@example.com", PASSWORD).await;
    // Made just before the stop: it shows in the next token.
    change_role(&app, &theirs, &member, "org:admin").await;

    main.kill_primary();
    let (status, body) = touch(&mut phone, &session, &theirs).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["response"]["last_active_organization_id"],
        theirs.as_str()
    );
    let (status, token) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let claims = claims(token["jwt"].as_str().unwrap());
    assert_eq!(claims["o"]["id"], theirs.as_str());
    assert_eq!(claims["o"]["rol"], "admin");
    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    assert_eq!(
        client["response"]["sessions"][0]["user"]["id"],
        member.as_str()
    );
    assert_eq!(
        client["response"]["sessions"][0]["public_user_data"]["identifier"],
        "member@example.com"
    );
    let (status, body) = touch(&mut phone, &session, &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    main.start_primary();
}

#[actix_web::test]
async fn a_change_made_while_the_session_database_is_down_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let main = crate::common::fresh_database(Backend::Postgres, dir.path());
    let session_db = PgPair::start();
    let app = split_app(main, &session_db).await;
    let owner = user(&app, "owner@example.com").await;
    let member = user(&app, "member@example.com").await;
    let org_id = organization(&app, "Team", &owner, Some(&member)).await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("member@example.com", PASSWORD).await;
    let (status, body) = touch(&mut phone, &session, &org_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    session_db.kill_primary();
    // The orgs area commits without the session database.
    change_role(&app, &org_id, &member, "org:admin").await;
    let (latest, waiting) = outbox_state(&app, &member, &org_id).await;
    assert!(waiting >= 1, "the change waits in the outbox");
    session_db.start_primary();

    let claims = poll_token(&mut phone, &session, Duration::from_secs(90), |c| {
        c["o"]["rol"] == "admin"
    })
    .await;
    assert_eq!(claims["o"]["id"], org_id.as_str());
    // The row is marked delivered just after the session database
    // committed it, which the token can show first.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (now_latest, waiting) = loop {
        let (now_latest, waiting) = outbox_state(&app, &member, &org_id).await;
        if waiting == 0 || Instant::now() > deadline {
            break (now_latest, waiting);
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(now_latest, latest, "no other change was made");
    assert_eq!(waiting, 0, "delivered");
    assert_eq!(
        applied_versions(&app, &member, &org_id).await,
        vec![latest],
        "applied once, at its version"
    );
}
