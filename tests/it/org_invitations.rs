//! Organization invitations by email (through a real SMTP server): a new
//! user signs up with the ticket and joins with the invited role; an
//! existing user accepts; revoked and expired invitations are refused. On
//! SQLite and PostgreSQL.

use std::time::Duration;

use crate::common::fapi::FapiClient;
use crate::common::smtp::SmtpCapture;
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

on_every_backend!(
    invited_new_user_signs_up_and_joins,
    existing_users_accept_and_bad_tickets_are_refused
);

async fn spawn(backend: Backend, smtp: &SmtpCapture) -> TestApp {
    TestApp::spawn_with(backend, &format!("[email]\nsmtp_url = \"{}\"\n", smtp.url)).await
}

/// The ticket in the invitation link emailed to `to`.
fn ticket_for(smtp: &SmtpCapture, to: &str) -> String {
    // The body may be quoted-printable: undo soft line breaks and `=3D`.
    let message = smtp
        .wait_for_message(to, Duration::from_secs(10))
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = message.find("__clerk_ticket=").expect("a ticket link") + "__clerk_ticket=".len();
    message[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

async fn invited_new_user_signs_up_and_joins(backend: Backend) {
    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    user(&app, "boss@example.com").await;
    let mut boss = FapiClient::native(&app);
    let boss_session = boss.sign_in("boss@example.com", PASSWORD).await;
    let (_, org) = boss
        .post(
            &format!("/v1/organizations?_clerk_session_id={boss_session}"),
            &[("name", "Invite Co")],
        )
        .await;
    let org_id = org["response"]["id"].as_str().unwrap().to_owned();

    let (status, invited) = boss
        .post(
            &format!("/v1/organizations/{org_id}/invitations"),
            &[
                ("email_address", "Newbie@Example.com"),
                ("role", "org:member"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invited}");
    let invitation = &invited["response"];
    assert_eq!(invitation["object"], "organization_invitation");
    assert_eq!(invitation["email_address"], "newbie@example.com");
    assert_eq!(invitation["status"], "pending");
    assert!(invitation.get("private_metadata").is_none());
    let again = boss
        .post(
            &format!("/v1/organizations/{org_id}/invitations"),
            &[
                ("email_address", "newbie@example.com"),
                ("role", "org:member"),
            ],
        )
        .await;
    assert_error(
        &again,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_exists",
    );
    let no_role = boss
        .post(
            &format!("/v1/organizations/{org_id}/invitations"),
            &[("email_address", "x@example.com"), ("role", "org:ghost")],
        )
        .await;
    assert_error(
        &no_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );

    let ticket = ticket_for(&smtp, "newbie@example.com");
    let mut newbie = FapiClient::native(&app);
    let (status, body) = newbie
        .post(
            "/v1/client/sign_ups",
            &[
                ("strategy", "ticket"),
                ("ticket", ticket.as_str()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_up = &body["response"];
    assert_eq!(
        sign_up["status"], "complete",
        "the ticket verified the address"
    );
    assert_eq!(sign_up["email_address"], "newbie@example.com");
    let session = sign_up["created_session_id"].as_str().unwrap().to_owned();
    let (_, memberships) = newbie
        .get("/v1/me/organization_memberships?paginated=true")
        .await;
    assert_eq!(
        memberships["response"]["data"][0]["organization"]["id"],
        org_id.as_str()
    );
    assert_eq!(memberships["response"]["data"][0]["role"], "org:member");
    newbie
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    let (_, token) = newbie.token(&session).await;
    let claims = crate::common::jwt_claims(token["jwt"].as_str().unwrap());
    assert_eq!(claims["o"]["rol"], "member");

    let reused = FapiClient::native(&app)
        .post(
            "/v1/client/sign_ups",
            &[
                ("strategy", "ticket"),
                ("ticket", ticket.as_str()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_error(&reused, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");
    let (_, listed) = app
        .get(&format!(
            "/v1/organizations/{org_id}/invitations?status=accepted"
        ))
        .await;
    assert_eq!(listed["total_count"], 1);
}

async fn existing_users_accept_and_bad_tickets_are_refused(backend: Backend) {
    use diesel::prelude::*;
    use steward::db::schema::organization_invitations;

    let smtp = SmtpCapture::start();
    let app = spawn(backend, &smtp).await;
    let owner = user(&app, "owner@example.com").await;
    let existing = user(&app, "existing@example.com").await;
    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Accept Co", "created_by": owner}),
        )
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();

    let (status, bulk) = app
        .post(
            &format!("/v1/organizations/{org_id}/invitations/bulk"),
            json!([
                {"email_address": "existing@example.com", "role": "org:admin", "notify": false},
                {"email_address": "revoked@example.com", "role": "org:member"},
                {"email_address": "expired@example.com", "role": "org:member"}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bulk}");
    assert_eq!(bulk["total_count"], 3);
    assert_eq!(bulk["data"][0]["private_metadata"], json!({}));
    let (_, pending) = app
        .get(&format!("/v1/organizations/{org_id}/invitations/pending"))
        .await;
    assert_eq!(pending["total_count"], 3);
    let (_, for_user) = app
        .get(&format!("/v1/users/{existing}/organization_invitations"))
        .await;
    assert_eq!(for_user["total_count"], 1);
    let (_, all) = app.get("/v1/organization_invitations?status=pending").await;
    assert_eq!(all["total_count"], 3);

    let mut phone = FapiClient::native(&app);
    phone.sign_in("existing@example.com", PASSWORD).await;
    let (_, mine) = phone.get("/v1/me/organization_invitations").await;
    let invitation_id = mine["response"]["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, accepted) = phone
        .post(
            &format!("/v1/me/organization_invitations/{invitation_id}/accept"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["response"]["status"], "accepted");
    let (_, members) = app
        .get(&format!(
            "/v1/organizations/{org_id}/memberships?role=org:admin"
        ))
        .await;
    assert_eq!(members["total_count"], 2, "joined with the invited role");
    let twice = phone
        .post(
            &format!("/v1/me/organization_invitations/{invitation_id}/accept"),
            &[],
        )
        .await;
    assert_error(&twice, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");
    let mut stranger = FapiClient::native(&app);
    stranger.sign_in("owner@example.com", PASSWORD).await;
    let not_mine = stranger
        .post(
            &format!("/v1/me/organization_invitations/{invitation_id}/accept"),
            &[],
        )
        .await;
    assert_error(&not_mine, StatusCode::NOT_FOUND, "resource_not_found");

    // Revoked and expired invitations cannot be used to sign up.
    let revoked_id = bulk["data"][1]["id"].as_str().unwrap();
    let (status, revoked) = app
        .post(
            &format!("/v1/organizations/{org_id}/invitations/{revoked_id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, revoked["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    let before = app.settled_row_counts().await;
    for body in [
        json!({"email_address": "not an address", "role": "org:member"}),
        json!({"email_address": "new@example.com", "role": "org:wizard"}),
        json!({"role": "org:member"}),
    ] {
        let (status, reply) = app
            .post(
                &format!("/v1/organizations/{org_id}/invitations"),
                body.clone(),
            )
            .await;
        assert!(status.is_client_error(), "{body}: {status} {reply}");
    }
    let revoke_again = app
        .post(
            &format!("/v1/organizations/{org_id}/invitations/{revoked_id}/revoke"),
            json!({}),
        )
        .await;
    assert_error(
        &revoke_again,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let revoked_ticket = ticket_for(&smtp, "revoked@example.com");
    let refused = FapiClient::native(&app)
        .post(
            "/v1/client/sign_ups",
            &[
                ("strategy", "ticket"),
                ("ticket", revoked_ticket.as_str()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");

    let expired_id = bulk["data"][2]["id"].as_str().unwrap().to_owned();
    let state = app.state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::update(organization_invitations::table.find(&expired_id))
            .set(organization_invitations::expires_at.eq(1_i64))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let expired_ticket = ticket_for(&smtp, "expired@example.com");
    let refused = FapiClient::native(&app)
        .post(
            "/v1/client/sign_ups",
            &[
                ("strategy", "ticket"),
                ("ticket", expired_ticket.as_str()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "ticket_invalid");
    app.assert_rows_unchanged(&before, "refused invitations and ticket sign-ups")
        .await;
    let (_, expired) = app
        .get(&format!(
            "/v1/organizations/{org_id}/invitations?status=expired"
        ))
        .await;
    assert_eq!(expired["total_count"], 1);
    assert_error(
        &app.get(&format!(
            "/v1/organizations/{org_id}/invitations?status=lost"
        ))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    assert_eq!(
        app.user_count().await,
        2,
        "refused sign-ups created no user"
    );
}
