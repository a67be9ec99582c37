//! Organization rules that must hold whatever happens around them: a
//! deleted user's memberships go with the user (on every backend), and the
//! rules that count before they write (the last admin, the membership
//! limit, one pending invitation per address, a slug's uniqueness) hold
//! under concurrent requests on PostgreSQL, where SQLite's single writer
//! cannot hide a race.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fapi::FapiClient;
use common::{assert_error, Backend, TestApp};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(deleting_a_user_removes_their_memberships);

const PASSWORD: &str = "a long password";

/// A user who can sign in with [`PASSWORD`].
async fn user(app: &TestApp, email: &str) -> String {
    let (status, user) = app
        .post(
            "/v1/users",
            json!({"email_address": [email], "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

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
    let payload = token["jwt"].as_str().unwrap().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
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

/// Concurrent requests on PostgreSQL (directly: PgBouncer adds nothing to
/// a race but hops).
mod postgres_races {
    use super::*;

    async fn spawn() -> TestApp {
        TestApp::spawn(Backend::Postgres).await
    }

    #[actix_web::test]
    async fn the_last_admin_survives_concurrent_removals_and_demotions() {
        let app = spawn().await;
        let mut orgs = Vec::new();
        for o in 0..4 {
            let owner = bare_user(&app, &format!("owner{o}@example.com")).await;
            let org = organization(&app, &format!("Admins {o}"), &owner, 0).await;
            let mut admins = vec![owner];
            for a in 0..2 {
                let admin = bare_user(&app, &format!("admin{o}.{a}@example.com")).await;
                add_member(&app, &org, &admin, "org:admin").await;
                admins.push(admin);
            }
            orgs.push((org, admins));
        }
        // Every admin of every organization removed or demoted at once.
        let app = &app;
        let requests = orgs.iter().flat_map(|(org, admins)| {
            admins.iter().enumerate().map(move |(i, admin)| {
                let path = format!("/v1/organizations/{org}/memberships/{admin}");
                let request = if i % 2 == 0 {
                    app.bapi(Method::DELETE, &path)
                } else {
                    app.bapi(Method::PATCH, &path)
                        .json(&json!({"role": "org:member"}))
                };
                async move { (org.clone(), app.send(request).await) }
            })
        });
        let outcomes = join_all(requests).await;
        for (org, _) in &orgs {
            let mine: Vec<_> = outcomes.iter().filter(|(o, _)| o == org).collect();
            let refused: Vec<_> = mine
                .iter()
                .filter(|(_, (status, _))| *status != StatusCode::OK)
                .collect();
            assert_eq!(refused.len(), 1, "one change refused: {mine:?}");
            assert_error(
                &refused[0].1,
                StatusCode::FORBIDDEN,
                "organization_minimum_permissions_needed",
            );
            assert_eq!(admins(app, org).await, 1, "one admin left in {org}");
        }
    }

    #[actix_web::test]
    async fn concurrent_additions_stay_within_the_membership_limit() {
        let app = spawn().await;
        let owner = bare_user(&app, "owner@example.com").await;
        let org = organization(&app, "Three seats", &owner, 3).await;
        let mut candidates = Vec::new();
        for i in 0..8 {
            candidates.push(bare_user(&app, &format!("candidate{i}@example.com")).await);
        }
        let path = format!("/v1/organizations/{org}/memberships");
        let outcomes = join_all(
            candidates
                .iter()
                .map(|user| app.post(&path, json!({"user_id": user, "role": "org:member"}))),
        )
        .await;
        let added = outcomes
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(added, 2, "two free seats: {outcomes:?}");
        for outcome in outcomes.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_error(
                outcome,
                StatusCode::FORBIDDEN,
                "organization_membership_quota_exceeded",
            );
        }
        assert_eq!(members_count(&app, &org).await, 3);
    }

    #[actix_web::test]
    async fn concurrent_invitations_to_one_address_make_one() {
        let app = spawn().await;
        let owner = bare_user(&app, "owner@example.com").await;
        let org = organization(&app, "Invites", &owner, 0).await;
        let emails = ["a@example.com", "b@example.com", "c@example.com"];
        let path = format!("/v1/organizations/{org}/invitations");
        let outcomes = join_all(emails.iter().cycle().take(18).map(|email| {
            app.post(
                &path,
                json!({"email_address": email, "role": "org:member", "notify": false}),
            )
        }))
        .await;
        let created = outcomes
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(created, emails.len(), "one per address: {outcomes:?}");
        for outcome in outcomes.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_error(
                outcome,
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
            );
        }
        for email in emails {
            let (_, pending) = app
                .get(&format!(
                    "/v1/organizations/{org}/invitations?status=pending&limit=100"
                ))
                .await;
            let for_email = pending["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["email_address"] == email)
                .count();
            assert_eq!(for_email, 1, "{pending}");
        }
    }

    #[actix_web::test]
    async fn concurrent_creates_with_one_slug_make_one_organization() {
        let app = spawn().await;
        let outcomes = join_all((0..8).map(|i| {
            app.post(
                "/v1/organizations",
                json!({"name": format!("Clash {i}"), "slug": "clash"}),
            )
        }))
        .await;
        let created = outcomes
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(created, 1, "{outcomes:?}");
        for outcome in outcomes.iter().filter(|(s, _)| *s != StatusCode::OK) {
            let error = assert_error(
                outcome,
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
            );
            assert_eq!(error["meta"]["param_name"], "slug");
        }

        // Slugs made from one name: every create succeeds, each its own slug.
        let outcomes =
            join_all((0..8).map(|_| app.post("/v1/organizations", json!({"name": "Twin"})))).await;
        let mut slugs: Vec<&str> = outcomes
            .iter()
            .map(|(status, org)| {
                assert_eq!(*status, StatusCode::OK, "{org}");
                org["slug"].as_str().unwrap()
            })
            .collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), 8, "{slugs:?}");
    }
}
