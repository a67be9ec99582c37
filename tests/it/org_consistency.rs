//! Organization rules that must hold whatever happens around them: a
//! deleted user's memberships go with the user, a refused ticket sign-up
//! leaves nothing behind (on every backend), and the rules that count
//! before they write (the last admin, the membership limit, one pending
//! invitation per address, a slug's uniqueness, an invitation accepted or
//! revoked) hold under concurrent requests on PostgreSQL, where SQLite's
//! single writer cannot hide a race.

use crate::common::fapi::FapiClient;
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    deleting_a_user_removes_their_memberships,
    a_refused_ticket_sign_up_creates_nothing,
);

mod postgres_races;

/// Ticket sign-ups without a password complete at once, with no hashing
/// to spread concurrent ones apart.
const NO_PASSWORD: &str = "[auth.password]\nrequired = false\n";

/// A user without a password (cheaper: nothing to hash).
async fn bare_user(app: &TestApp, email: &str) -> String {
    let (status, user) = app
        .post(
            "/v1/users",
            json!({"email_address": [email], "skip_password_requirement": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

/// An organization created by `owner` (its admin); 0: no member limit.
async fn organization(app: &TestApp, name: &str, owner: &str, max: i32) -> String {
    let (status, org) = app
        .post(
            "/v1/organizations",
            json!({"name": name, "created_by": owner, "max_allowed_memberships": max}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    org["id"].as_str().unwrap().to_owned()
}

async fn add_member(app: &TestApp, org: &str, user: &str, role: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/organizations/{org}/memberships"),
            json!({"user_id": user, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Invites `email` without an email; the invitation's id and ticket.
async fn invite(app: &TestApp, org: &str, email: &str) -> (String, String) {
    let (status, invitation) = app
        .post(
            &format!("/v1/organizations/{org}/invitations"),
            json!({"email_address": email, "role": "org:member", "notify": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invitation}");
    let url = url::Url::parse(invitation["url"].as_str().unwrap()).unwrap();
    let ticket = url
        .query_pairs()
        .find(|(key, _)| key == "__clerk_ticket")
        .map(|(_, value)| value.into_owned())
        .expect("a ticket in the invitation URL");
    (invitation["id"].as_str().unwrap().to_owned(), ticket)
}

async fn ticket_sign_up(
    app: &TestApp,
    ticket: &str,
    password: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![("strategy", "ticket"), ("ticket", ticket)];
    form.extend(password.map(|p| ("password", p)));
    FapiClient::native(app)
        .post("/v1/client/sign_ups", &form)
        .await
}

async fn members_count(app: &TestApp, org: &str) -> i64 {
    let (status, org) = app.get(&format!("/v1/organizations/{org}")).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    org["members_count"].as_i64().unwrap()
}

async fn admins(app: &TestApp, org: &str) -> i64 {
    let (status, list) = app
        .get(&format!(
            "/v1/organizations/{org}/memberships?role=org:admin"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["total_count"].as_i64().unwrap()
}

async fn invitation_status(app: &TestApp, org: &str, id: &str) -> String {
    let (status, invitation) = app
        .get(&format!("/v1/organizations/{org}/invitations/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{invitation}");
    invitation["status"].as_str().unwrap().to_owned()
}

/// Every membership in a list names an existing user.
#[track_caller]
fn user_ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["public_user_data"]["user_id"]
                .as_str()
                .unwrap_or_else(|| panic!("a membership without user data: {m}"))
                .to_owned()
        })
        .collect()
}

async fn deleting_a_user_removes_their_memberships(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = bare_user(&app, "owner@example.com").await;
    let leaver = bare_user(&app, "leaver@example.com").await;
    let stayer = user(&app, "stayer@example.com").await;
    let team = organization(&app, "Team", &owner, 0).await;
    let other = organization(&app, "Other", &owner, 0).await;
    add_member(&app, &team, &leaver, "org:member").await;
    add_member(&app, &team, &stayer, "org:member").await;
    let (invitation, _) = invite(&app, &other, "leaver@example.com").await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("stayer@example.com", PASSWORD).await;
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", team.as_str())],
        )
        .await;

    let (status, deleted) = app.delete(&format!("/v1/users/{leaver}")).await;
    assert_eq!(
        (status, &deleted["deleted"]),
        (StatusCode::OK, &json!(true))
    );
    let (_, list) = app
        .get(&format!("/v1/organizations/{team}/memberships"))
        .await;
    assert_eq!(list["total_count"], 2, "{list}");
    assert!(!user_ids(&list).contains(&leaver));
    assert_eq!(members_count(&app, &team).await, 2);
    let (_, everywhere) = app.get("/v1/organization_memberships").await;
    assert_eq!(everywhere["total_count"], 3, "{everywhere}");
    assert!(!user_ids(&everywhere).contains(&leaver));
    assert_eq!(
        invitation_status(&app, &other, &invitation).await,
        "pending",
        "invitations addressed to a deleted user stay as they are"
    );

    // The only admin can be deleted: the organizations stay, without one,
    // and the other members keep their claims.
    let (status, _) = app.delete(&format!("/v1/users/{owner}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admins(&app, &team).await, 0);
    assert_eq!(members_count(&app, &team).await, 1);
    assert_eq!(members_count(&app, &other).await, 0);
    let (status, token) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let claims = crate::common::jwt_claims(token["jwt"].as_str().unwrap());
    assert_eq!(claims["o"]["id"], team.as_str());
    assert_eq!(claims["o"]["rol"], "member");

    // An operator names a new admin, who is then the last one again.
    let (status, promoted) = app
        .patch(
            &format!("/v1/organizations/{team}/memberships/{stayer}"),
            json!({"role": "org:admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_error(
        &app.delete(&format!("/v1/organizations/{team}/memberships/{stayer}"))
            .await,
        StatusCode::FORBIDDEN,
        "organization_minimum_permissions_needed",
    );
    let (status, _) = app.delete(&format!("/v1/users/{leaver}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted once");
}

async fn a_refused_ticket_sign_up_creates_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = bare_user(&app, "owner@example.com").await;
    let full = organization(&app, "Full", &owner, 1).await;
    let (invitation, ticket) = invite(&app, &full, "newbie@example.com").await;

    let refused = ticket_sign_up(&app, &ticket, Some(PASSWORD)).await;
    assert_error(
        &refused,
        StatusCode::FORBIDDEN,
        "organization_membership_quota_exceeded",
    );
    assert_eq!(app.user_count().await, 1, "no user for a refused sign-up");
    assert_eq!(members_count(&app, &full).await, 1);
    assert_eq!(invitation_status(&app, &full, &invitation).await, "pending");

    // With a free seat the same ticket works: nothing was used up.
    let (status, _) = app
        .patch(
            &format!("/v1/organizations/{full}"),
            json!({"max_allowed_memberships": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ticket_sign_up(&app, &ticket, Some(PASSWORD)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"]["status"], "complete");
    assert_eq!(app.user_count().await, 2);
    assert_eq!(members_count(&app, &full).await, 2);
    assert_eq!(
        invitation_status(&app, &full, &invitation).await,
        "accepted"
    );
}
