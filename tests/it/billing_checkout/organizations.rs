//! An organization's billing: the billing permissions, organization plans only, and its own payer.

use super::*;

on_every_backend!(organization_billing_needs_the_billing_permission,);

async fn organization_billing_needs_the_billing_permission(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (mut admin, admin_session) = signed_in(&app, "owner@example.com").await;
    let (status, org) = call(
        &mut admin,
        Method::POST,
        "/v1/organizations",
        &admin_session,
        &[("name", "Acme"), ("slug", "acme")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    let org_id = org["response"]["id"].as_str().unwrap().to_owned();
    let member_id = user(&app, "member@example.com").await;
    let (status, _) = app
        .post(
            &format!("/v1/organizations/{org_id}/memberships"),
            serde_json::json!({"user_id": member_id, "role": "org:member"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let base = format!("/v1/organizations/{org_id}/billing");
    let team = plan_id(&app, "team").await;

    let mut member = FapiClient::web(&app);
    let member_session = member.sign_in("member@example.com", PASSWORD).await;
    let (status, _) = call(
        &mut member,
        Method::GET,
        &format!("{base}/subscription"),
        &member_session,
        &[],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "members lack org:sys_billing:read"
    );
    let (status, _) = call(
        &mut member,
        Method::POST,
        &format!("{base}/checkouts"),
        &member_session,
        &[("plan_id", &team)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let sub = subscription(&mut admin, &admin_session, &base).await;
    assert_eq!(sub["subscription_items"][0]["plan"]["slug"], "free_org");
    save_card(&mut admin, &admin_session, &base, GOOD_CARD).await;
    // A user plan is not for organizations.
    let pro = plan_id(&app, "pro").await;
    let (status, body) = call(
        &mut admin,
        Method::POST,
        &format!("{base}/checkouts"),
        &admin_session,
        &[("plan_id", &pro)],
    )
    .await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_plan_change",
    );
    let offer = checkout(&mut admin, &admin_session, &base, &team).await;
    assert_eq!(offer["payer"]["organization_id"], org_id.as_str());
    let (status, done) = confirm(&mut admin, &admin_session, &base, &offer, &[]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["response"]["subscription_item"]["is_free_trial"], true);
    // The admin's own subscription is untouched.
    let mine = subscription(&mut admin, &admin_session, ME).await;
    assert_eq!(mine["eligible_for_free_trial"], true);
}
