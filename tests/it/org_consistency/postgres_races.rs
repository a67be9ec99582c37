//! Concurrent requests on PostgreSQL (directly: PgBouncer adds nothing to
//! a race but hops).

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
    let ((lost, joined), revoked) = futures_util::future::join(sign_ups, revoke_meanwhile).await;

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
