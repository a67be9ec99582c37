//! Billing's plan and features in session tokens (`pla`, `fea`), pushed
//! into the session store: the default plan, a checkout, an
//! organization's plan next to its permission features, and a plan's
//! features changed, on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::billing::{call, catalogue, save_card, spawn, GOOD_CARD};
use crate::common::fapi::FapiClient;
use crate::common::jwt_claims as claims;
use crate::common::{user, Backend, PASSWORD};

on_every_backend!(
    the_plan_and_its_features_are_in_the_token,
    an_organization_plan_joins_the_users_own,
);

/// Asks for tokens until one's claims satisfy `wanted` (the outbox may
/// deliver a moment after the change); returns those claims.
async fn token_where(
    client: &mut FapiClient<'_>,
    session: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, token) = client.token(session).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        let claims = claims(token["jwt"].as_str().unwrap());
        if wanted(&claims) {
            return claims;
        }
        assert!(Instant::now() < deadline, "no token as wanted: {claims}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_plan_and_its_features_are_in_the_token(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    user(&app, "ada@example.com").await;
    let mut web = FapiClient::web(&app);
    let session = web.sign_in("ada@example.com", PASSWORD).await;
    let (status, _) = call(
        &mut web,
        Method::GET,
        "/v1/me/billing/subscription",
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = token_where(&mut web, &session, |c| c["pla"] == "u:free_user").await;
    assert_eq!(token["v"], 2, "{token}");
    assert!(
        token.get("fea").is_none(),
        "the free plan has no features: {token}"
    );

    save_card(&mut web, &session, "/v1/me/billing", GOOD_CARD).await;
    let (_, pro) = app.get("/v1/billing/plans/pro").await;
    let (status, checkout) = call(
        &mut web,
        Method::POST,
        "/v1/me/billing/checkouts",
        &session,
        &[("plan_id", pro["id"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{checkout}");
    let id = checkout["response"]["id"].as_str().unwrap();
    let (status, _) = call(
        &mut web,
        Method::PATCH,
        &format!("/v1/me/billing/checkouts/{id}/confirm"),
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The trial's plan shows in the very next token.
    let (_, token) = web.token(&session).await;
    let next = claims(token["jwt"].as_str().unwrap());
    assert_eq!(
        (next["pla"].clone(), next["fea"].clone()),
        (json!("u:pro"), json!("u:exports"))
    );

    // A feature added to the plan reaches its subscribers' tokens.
    let (status, _) = app
        .patch(
            "/v1/billing/plans/pro",
            json!({"features": [{"slug": "exports", "name": "Exports"}, {"slug": "api", "name": "API"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    token_where(&mut web, &session, |c| c["fea"] == "u:exports,u:api").await;
    // A new session starts with the plan.
    let mut phone = FapiClient::native(&app);
    let other = phone.sign_in("ada@example.com", PASSWORD).await;
    let (_, token) = phone.token(&other).await;
    assert_eq!(claims(token["jwt"].as_str().unwrap())["pla"], "u:pro");
}

async fn an_organization_plan_joins_the_users_own(backend: Backend) {
    let app = spawn(backend, "").await;
    catalogue(&app).await;
    let (status, _) = app
        .patch(
            "/v1/billing/plans/team",
            json!({"features": [{"slug": "audit_log", "name": "Audit log"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    user(&app, "owner@example.com").await;
    let mut web = FapiClient::web(&app);
    let session = web.sign_in("owner@example.com", PASSWORD).await;
    let (status, org) = call(
        &mut web,
        Method::POST,
        "/v1/organizations",
        &session,
        &[("name", "Acme"), ("slug", "acme")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    let org_id = org["response"]["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/organizations/{org_id}/billing");
    save_card(&mut web, &session, &base, GOOD_CARD).await;
    let (_, team) = app.get("/v1/billing/plans/team").await;
    let (status, checkout) = call(
        &mut web,
        Method::POST,
        &format!("{base}/checkouts"),
        &session,
        &[("plan_id", team["id"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{checkout}");
    let id = checkout["response"]["id"].as_str().unwrap();
    let (status, _) = call(
        &mut web,
        Method::PATCH,
        &format!("{base}/checkouts/{id}/confirm"),
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &mut web,
        Method::GET,
        "/v1/me/billing/subscription",
        &session,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Active in the organization: its plan and the user's (the order of
    // `fea` entries against the membership's own is unit-tested in
    // session::scope_claims).
    let (status, _) = web
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = token_where(&mut web, &session, |c| {
        c["pla"] == "o:team,u:free_user" && c["fea"] == "o:audit_log"
    })
    .await;
    assert_eq!(token["o"]["slg"], "acme", "{token}");
    // In the personal workspace, the user's plan alone.
    let (status, _) = web
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", "")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, token) = web.token(&session).await;
    assert_eq!(claims(token["jwt"].as_str().unwrap())["pla"], "u:free_user");
}
