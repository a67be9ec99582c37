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

/// Concurrent requests on PostgreSQL (directly: PgBouncer adds nothing to
/// a race but hops).
mod postgres_races {
    use super::*;

    async fn spawn() -> TestApp {
        TestApp::spawn_with(Backend::Postgres, NO_PASSWORD).await
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
    async fn concurrent_ticket_sign_ups_take_the_free_seats_and_nothing_else() {
        let app = spawn().await;
        let owner = bare_user(&app, "owner@example.com").await;
        let org = organization(&app, "Two seats", &owner, 3).await;
        let mut invitations = Vec::new();
        for i in 0..6 {
            invitations.push(invite(&app, &org, &format!("new{i}@example.com")).await);
        }
        let outcomes = join_all(
            invitations
                .iter()
                .map(|(_, ticket)| ticket_sign_up(&app, ticket, None)),
        )
        .await;
        let joined = outcomes
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(joined, 2, "two free seats: {outcomes:?}");
        for outcome in outcomes.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_error(
                outcome,
                StatusCode::FORBIDDEN,
                "organization_membership_quota_exceeded",
            );
        }
        assert_eq!(members_count(&app, &org).await, 3);
        assert_eq!(app.user_count().await, 3, "a user only for each seat taken");
        let (_, pending) = app
            .get(&format!(
                "/v1/organizations/{org}/invitations?status=pending"
            ))
            .await;
        assert_eq!(pending["total_count"], 4, "refused tickets stay usable");
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

    /// Holds `FOR UPDATE` on an organization row, from a connection of its
    /// own, until released: requests that need the row wait mid-way.
    struct OrgLock {
        release: std::sync::mpsc::Sender<()>,
        holder: std::thread::JoinHandle<()>,
    }

    impl OrgLock {
        fn take(database_url: &str, org: &str) -> Self {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            let (locked, is_locked) = std::sync::mpsc::channel();
            let (release, released) = std::sync::mpsc::channel::<()>();
            let (url, org) = (database_url.to_owned(), org.to_owned());
            let holder = std::thread::spawn(move || {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                conn.batch_execute(&format!(
                    "BEGIN; SELECT id FROM organizations WHERE id = '{org}' FOR UPDATE"
                ))
                .unwrap();
                locked.send(()).unwrap();
                released.recv().unwrap();
                conn.batch_execute("COMMIT").unwrap();
            });
            is_locked.recv().unwrap();
            Self { release, holder }
        }

        async fn release(self) {
            self.release.send(()).unwrap();
            actix_web::rt::task::spawn_blocking(move || self.holder.join().unwrap())
                .await
                .unwrap();
        }
    }

    /// Waits until `count` statements of the database wait for a lock.
    async fn lock_waiters(database_url: &str, count: i64) {
        use diesel::prelude::*;
        let url = database_url.to_owned();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let waiting: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock')",
                ))
                .get_result(&mut conn)
                .unwrap();
                if waiting >= count {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{waiting} of {count} waiting"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        })
        .await
        .unwrap();
    }

    /// Two ticket sign-ups are held at the organization's row, after they
    /// read their invitations as pending and created their users; one
    /// invitation is revoked meanwhile. Released, that sign-up must lose
    /// (and take its user back) while the other joins.
    #[actix_web::test]
    async fn an_invitation_is_accepted_or_revoked_never_both() {
        let app = spawn().await;
        let owner = bare_user(&app, "owner@example.com").await;
        let org = organization(&app, "Contested", &owner, 0).await;
        let (revoked_id, revoked_ticket) = invite(&app, &org, "loser@example.com").await;
        let (kept_id, kept_ticket) = invite(&app, &org, "winner@example.com").await;

        let lock = OrgLock::take(&app.database_url, &org);
        let sign_ups = futures_util::future::join(
            ticket_sign_up(&app, &revoked_ticket, None),
            ticket_sign_up(&app, &kept_ticket, None),
        );
        let revoke_meanwhile = async {
            lock_waiters(&app.database_url, 2).await;
            let revoked = app
                .post(
                    &format!("/v1/organizations/{org}/invitations/{revoked_id}/revoke"),
                    json!({}),
                )
                .await;
            lock.release().await;
            revoked
        };
        let ((lost, joined), revoked) =
            futures_util::future::join(sign_ups, revoke_meanwhile).await;

        assert_eq!(revoked.0, StatusCode::OK, "{}", revoked.1);
        assert_error(&lost, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");
        assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
        assert_eq!(invitation_status(&app, &org, &revoked_id).await, "revoked");
        assert_eq!(invitation_status(&app, &org, &kept_id).await, "accepted");
        assert_eq!(members_count(&app, &org).await, 2);
        assert_eq!(
            app.user_count().await,
            2,
            "the losing sign-up's user is gone"
        );
    }

    /// An addition that found the user before the user's deletion, and is
    /// held at the organization's row until the deletion is over, must not
    /// leave a membership of a user who is gone.
    #[actix_web::test]
    async fn a_membership_added_during_its_users_deletion_does_not_outlive_them() {
        let app = spawn().await;
        let owner = bare_user(&app, "owner@example.com").await;
        let org = organization(&app, "Late", &owner, 0).await;
        let doomed = bare_user(&app, "doomed@example.com").await;

        let lock = OrgLock::take(&app.database_url, &org);
        let path = format!("/v1/organizations/{org}/memberships");
        let add = app.post(&path, json!({"user_id": doomed, "role": "org:member"}));
        let delete_meanwhile = async {
            lock_waiters(&app.database_url, 1).await;
            let deleted = app.delete(&format!("/v1/users/{doomed}")).await;
            lock.release().await;
            deleted
        };
        let (added, deleted) = futures_util::future::join(add, delete_meanwhile).await;

        assert_eq!(deleted.0, StatusCode::OK, "{}", deleted.1);
        let error = assert_error(&added, StatusCode::NOT_FOUND, "resource_not_found");
        assert_eq!(error["meta"]["param_name"], "user_id");
        let (_, list) = app.get(&path).await;
        assert_eq!(user_ids(&list), [owner]);
        assert_eq!(members_count(&app, &org).await, 1);
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
