//! Steward's Backend API extension `/v1/oauth_connections`: what it
//! refuses (each refusal a Clerk-style error that changes nothing), secrets
//! never shown, and the file's connections read-only.

use reqwest::StatusCode;
use serde_json::json;

use super::Social;
use crate::common::{assert_error, Backend};

on_every_backend!(bad_connections_are_refused_and_secrets_never_shown);

async fn bad_connections_are_refused_and_secrets_never_shown(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let before = app.settled_row_counts().await;
    for (body, status, code) in [
        (
            json!({"client_id": "x", "client_secret": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            json!({"strategy": "oauth_facebook", "client_id": "x", "client_secret": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            json!({"strategy": "oauth_custom_Bad-Key", "client_id": "x", "client_secret": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            json!({"strategy": "oauth_github", "client_id": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            json!({"strategy": "oauth_github", "client_secret": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            json!({"strategy": "oauth_custom_acme", "client_id": "x", "client_secret": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
        ),
        (
            json!({"strategy": "oauth_custom_acme", "client_id": "x", "client_secret": "y", "issuer": "not a url"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
        ),
        (
            json!({"strategy": "oauth_github", "client_id": "x", "client_secret": "y", "scopes": ["two words"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
        ),
        (
            json!({"strategy": "oauth_github", "client_id": "x", "client_secret": "y", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_unknown",
        ),
        // Google is configured in the file: the API cannot shadow it.
        (
            json!({"strategy": "oauth_google", "client_id": "x", "client_secret": "y"}),
            StatusCode::FORBIDDEN,
            "action_not_allowed",
        ),
    ] {
        let response = app.post("/v1/oauth_connections", body.clone()).await;
        assert_error(&response, status, code);
    }
    let response = app
        .patch(
            "/v1/oauth_connections/oauth_google",
            json!({"enabled": false}),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "action_not_allowed");
    let response = app.delete("/v1/oauth_connections/oauth_github").await;
    assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
    app.assert_rows_unchanged(&before, "refused OAuth connections")
        .await;

    // A good one: its secret is never shown, and can be replaced.
    let (status, created) = app
        .post(
            "/v1/oauth_connections",
            json!({"strategy": "oauth_github", "client_id": "gh", "client_secret": "gh-secret-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["source"], "api");
    assert_eq!(created["scopes"], json!(["read:user", "user:email"]));
    let (status, again) = app
        .post(
            "/v1/oauth_connections",
            json!({"strategy": "oauth_github", "client_id": "gh", "client_secret": "gh-secret-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
    let (status, patched) = app
        .patch(
            "/v1/oauth_connections/oauth_github",
            json!({"client_secret": "gh-secret-2", "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["enabled"], false);
    let (_, list) = app.get("/v1/oauth_connections").await;
    assert_eq!(list["total_count"], 2, "{list}");
    assert!(!list.to_string().contains("gh-secret"), "{list}");
    assert!(!list.to_string().contains(super::SECRET), "{list}");
    let (status, _) = app.delete("/v1/oauth_connections/oauth_github").await;
    assert_eq!(status, StatusCode::OK);
}
