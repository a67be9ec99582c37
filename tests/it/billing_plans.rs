//! Billing plans: the Backend API extension that manages them, Clerk's
//! listings on both APIs, the bulk free-trial rollout, and bad input
//! refused without a change, on SQLite and PostgreSQL.

use crate::common::fapi::FapiClient;
use crate::common::{assert_error, Backend, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_every_backend!(
    plans_are_managed_and_listed,
    the_public_catalogue_on_the_frontend_api,
    a_trial_configuration_rolls_out_to_many_plans_at_once,
    bad_plans_are_refused_and_change_nothing,
    concurrent_plans_with_one_slug_make_one,
    prices_follow_the_plans_fee,
);

/// Creates a plan through the Backend API; returns it.
pub async fn plan(app: &TestApp, body: Value) -> Value {
    let (status, plan) = app.post("/v1/billing/plans", body).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    plan
}

/// A free default plan and a paid plan with a 14-day trial for users, and
/// a paid plan for organizations.
pub async fn catalogue(app: &TestApp) -> (Value, Value, Value) {
    let free = plan(
        app,
        json!({"name": "Free", "slug": "free_user", "payer_type": "user", "is_default": true,
               "features": [{"slug": "projects", "name": "Projects"}]}),
    )
    .await;
    let pro = plan(
        app,
        json!({"name": "Pro", "slug": "pro", "payer_type": "user", "fee": 2500, "annual_fee": 24000,
               "free_trial_enabled": true, "free_trial_days": 14,
               "features": [{"slug": "projects", "name": "Projects"},
                            {"slug": "exports", "name": "Exports", "description": "CSV and JSON"}]}),
    )
    .await;
    let team = plan(
        app,
        json!({"name": "Team", "slug": "team", "payer_type": "org", "fee": 9900}),
    )
    .await;
    (free, pro, team)
}

async fn plans_are_managed_and_listed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (free, pro, team) = catalogue(&app).await;
    assert_eq!(pro["object"], "commerce_plan");
    assert!(pro["id"].as_str().unwrap().starts_with("cplan_"));
    assert_eq!(
        pro["fee"],
        json!({"amount": 2500, "amount_formatted": "25.00", "currency": "USD", "currency_symbol": "$"})
    );
    assert_eq!(pro["annual_fee"]["amount"], 24000);
    assert_eq!(pro["annual_monthly_fee"]["amount"], 2000);
    assert_eq!(
        (pro["is_recurring"].clone(), pro["has_base_fee"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        (
            pro["free_trial_enabled"].clone(),
            pro["free_trial_days"].clone()
        ),
        (json!(true), json!(14))
    );
    assert_eq!(pro["for_payer_type"], "user");
    assert_eq!(pro["features"][1]["object"], "feature");
    assert_eq!(pro["features"][1]["slug"], "exports");
    assert_eq!(
        free["features"][0]["id"], pro["features"][0]["id"],
        "one feature shared by two plans"
    );
    assert_eq!(free["is_default"], true);
    assert_eq!(free["annual_fee"], Value::Null);
    assert_eq!(team["for_payer_type"], "org");

    // Clerk's listing: newest first, filtered by payer type, always a page.
    let (_, all) = app.get("/v1/billing/plans").await;
    assert_eq!(all["total_count"], 3);
    assert_eq!(all["data"][0]["slug"], "team");
    let (_, users) = app
        .get("/v1/billing/plans?payer_type=user&limit=1&offset=1")
        .await;
    assert_eq!(users["total_count"], 2);
    assert_eq!(users["data"].as_array().unwrap().len(), 1);
    assert_eq!(users["data"][0]["slug"], "free_user");
    let (status, _) = app.get("/v1/billing/plans?payer_type=robot").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A change applies to the plan; features are replaced in order.
    let pro_id = pro["id"].as_str().unwrap();
    let (status, changed) = app
        .patch(
            &format!("/v1/billing/plans/{pro_id}"),
            json!({"fee": 3000, "description": "For professionals",
                   "features": [{"slug": "exports", "name": "Exports"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["fee"]["amount"], 3000);
    assert_eq!(changed["description"], "For professionals");
    assert_eq!(changed["features"].as_array().unwrap().len(), 1);

    // Archived: gone from the listings, still readable by id.
    let team_id = team["id"].as_str().unwrap();
    let (status, archived) = app.delete(&format!("/v1/billing/plans/{team_id}")).await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    let (_, all) = app.get("/v1/billing/plans").await;
    assert_eq!(all["total_count"], 2);
    let (status, _) = app.get(&format!("/v1/billing/plans/{team_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .patch(&format!("/v1/billing/plans/{team_id}"), json!({"fee": 1}))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an archived plan is not changed"
    );
    let free_id = free["id"].as_str().unwrap();
    let refused = app.delete(&format!("/v1/billing/plans/{free_id}")).await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
}

async fn the_public_catalogue_on_the_frontend_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, pro, _) = catalogue(&app).await;
    plan(
        &app,
        json!({"name": "Internal", "slug": "internal", "payer_type": "user", "fee": 100,
               "publicly_visible": false}),
    )
    .await;
    let mut browser = FapiClient::web(&app);
    // Not enveloped, as clerk-js reads it; users' plans by default.
    let (status, page) = browser.get("/v1/billing/plans").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total_count"], 2, "the hidden plan is not listed");
    assert!(page.get("response").is_none());
    let (_, orgs) = browser.get("/v1/billing/plans?payer_type=org").await;
    assert_eq!(orgs["data"][0]["slug"], "team");
    let (status, by_slug) = browser.get("/v1/billing/plans/pro").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_slug["id"], pro["id"]);
    let (status, _) = browser.get("/v1/billing/plans/internal").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Plan management is not on the Frontend API.
    let (status, _) = browser
        .post("/v1/billing/plans", &[("name", "X"), ("slug", "x")])
        .await;
    assert!(status.is_client_error(), "{status}");
    let (_, all) = app.get("/v1/billing/plans").await;
    assert_eq!(all["total_count"], 4);
}

async fn a_trial_configuration_rolls_out_to_many_plans_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, pro, team) = catalogue(&app).await;
    let business = plan(
        &app,
        json!({"name": "Business", "slug": "business", "payer_type": "user", "fee": 9000}),
    )
    .await;
    let ids = [&pro, &team, &business].map(|p| p["id"].as_str().unwrap().to_owned());
    let (status, page) = app
        .post(
            "/v1/billing/plans/free_trial",
            json!({"plan_ids": ids, "free_trial_enabled": true, "free_trial_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total_count"], 3);
    for id in &ids {
        let (_, plan) = app.get(&format!("/v1/billing/plans/{id}")).await;
        assert_eq!(
            (
                plan["free_trial_enabled"].clone(),
                plan["free_trial_days"].clone()
            ),
            (json!(true), json!(30)),
            "{plan}"
        );
    }

    // All or nothing: one unknown plan, or a free one, refuses the call.
    let before = app.settled_row_counts().await;
    let (_, free) = app.get("/v1/billing/plans/free_user").await;
    for bad in [
        json!({"plan_ids": [&ids[0], "cplan_unknown"], "free_trial_enabled": true, "free_trial_days": 7}),
        json!({"plan_ids": [&ids[0], free["id"]], "free_trial_enabled": true, "free_trial_days": 7}),
        json!({"plan_ids": [&ids[0]], "free_trial_enabled": true, "free_trial_days": 366}),
        json!({"plan_ids": [&ids[0]], "free_trial_enabled": true}),
        json!({"plan_ids": [], "free_trial_enabled": false}),
    ] {
        let (status, body) = app.post("/v1/billing/plans/free_trial", bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
    app.assert_rows_unchanged(&before, "refused rollouts").await;
    let (_, plan) = app.get(&format!("/v1/billing/plans/{}", ids[0])).await;
    assert_eq!(plan["free_trial_days"], 30);

    // Switched off everywhere at once.
    let (status, _) = app
        .post(
            "/v1/billing/plans/free_trial",
            json!({"plan_ids": ids, "free_trial_enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, plan) = app.get(&format!("/v1/billing/plans/{}", ids[1])).await;
    assert_eq!(plan["free_trial_enabled"], false);
}

async fn bad_plans_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    catalogue(&app).await;
    let before = app.settled_row_counts().await;
    let cases = [
        (
            json!({"name": "X", "slug": "x", "payer_type": "robot"}),
            "form_param_value_invalid",
        ),
        (
            json!({"name": "X", "slug": "Bad Slug", "payer_type": "user"}),
            "form_param_format_invalid",
        ),
        (
            json!({"name": "", "slug": "x", "payer_type": "user"}),
            "form_param_value_invalid",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "fee": -1}),
            "form_param_value_invalid",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "fee": 100,
                "free_trial_enabled": true, "free_trial_days": 0}),
            "form_param_value_invalid",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "fee": 100,
                "free_trial_enabled": true}),
            "form_param_missing",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "is_default": true, "fee": 100}),
            "form_param_value_invalid",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "free_trial_enabled": true,
                "free_trial_days": 7}),
            "form_param_value_invalid",
        ),
        (
            json!({"name": "X", "slug": "pro", "payer_type": "user"}),
            "form_identifier_exists",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "is_default": true}),
            "form_identifier_exists",
        ),
        (
            json!({"name": "X", "slug": "x", "payer_type": "user", "price": 5}),
            "form_param_unknown",
        ),
    ];
    for (body, code) in cases {
        let response = app.post("/v1/billing/plans", body.clone()).await;
        assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let response = app
        .patch("/v1/billing/plans/pro", json!({"is_default": true}))
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_value_invalid",
    );
    let (status, _) = app
        .patch("/v1/billing/plans/nothing", json!({"fee": 5}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.assert_rows_unchanged(&before, "refused plans").await;
}

async fn concurrent_plans_with_one_slug_make_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let statuses = join_all((0..8).map(|i| {
        app.post(
            "/v1/billing/plans",
            json!({"name": format!("Plan {i}"), "slug": "contested", "payer_type": "user", "fee": 100,
                   "features": [{"slug": "shared", "name": "Shared"}]}),
        )
    }))
    .await;
    let made = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(made, 1, "{statuses:?}");
    for response in statuses.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
        );
    }
    let (_, all) = app.get("/v1/billing/plans").await;
    assert_eq!(all["total_count"], 1);
}

async fn prices_follow_the_plans_fee(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (free, pro, _) = catalogue(&app).await;
    let pro_id = pro["id"].as_str().unwrap();
    let (status, page) = app
        .get(&format!("/v1/billing/prices?plan_id={pro_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total_count"], 1);
    let first = &page["data"][0];
    assert_eq!(first["object"], "commerce_price");
    assert_eq!(
        (
            first["amount"].clone(),
            first["annual_monthly_amount"].clone(),
            first["is_default"].clone()
        ),
        (json!(2500), json!(2000), json!(true))
    );
    assert_eq!(first["supported_billing_periods"], "both");
    assert_eq!(first["fee"]["amount_formatted"], "25.00");

    // A new price is the plan's fee from now on.
    let (status, price) = app
        .post(
            "/v1/billing/prices",
            json!({"plan_id": pro_id, "amount": 3000, "description": "2027 price"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{price}");
    assert_eq!(price["is_default"], true);
    assert_eq!(price["supported_billing_periods"], "month");
    let (_, plan) = app.get(&format!("/v1/billing/plans/{pro_id}")).await;
    assert_eq!(plan["fee"]["amount"], 3000);
    assert_eq!(plan["annual_fee"], Value::Null);
    // So is a fee changed on the plan.
    app.patch(&format!("/v1/billing/plans/{pro_id}"), json!({"fee": 3500}))
        .await;
    let (_, page) = app
        .get(&format!("/v1/billing/prices?plan_id={pro_id}"))
        .await;
    assert_eq!(page["total_count"], 3);
    let amounts: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [2500, 3000, 3500], "by amount");
    let defaults = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_default"] == true)
        .count();
    assert_eq!(defaults, 1);
    let (_, all) = app.get("/v1/billing/prices").await;
    assert_eq!(all["total_count"], 5, "every plan has its prices");

    // Bad prices change nothing.
    let before = app.settled_row_counts().await;
    let free_id = free["id"].as_str().unwrap();
    for (body, status) in [
        (
            json!({"plan_id": pro_id, "amount": 50}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"plan_id": pro_id, "amount": 500, "currency": "EUR"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"plan_id": free_id, "amount": 500}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"plan_id": "cplan_nothing", "amount": 500}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"amount": 500}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"plan_id": pro_id}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (got, response) = app.post("/v1/billing/prices", body.clone()).await;
        assert_eq!(got, status, "{body}: {response}");
    }
    let (status, _) = app.get("/v1/billing/prices?plan_id=cplan_nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.assert_rows_unchanged(&before, "refused prices").await;
}
