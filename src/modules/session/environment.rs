//! `GET /v1/environment`: the instance's authentication settings, which
//! Clerk's UIs read to decide what to show.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Whether UIs should show the "last used" badge: the config key when set,
/// otherwise the instance's stored setting (on for instances created by
/// this version, off for older ones until the operator turns it on).
pub fn show_last_used_badge(state: &AppState) -> bool {
    state
        .settings
        .sign_in
        .show_last_used_badge
        .unwrap_or_else(|| {
            state
                .instance
                .show_last_used_badge
                .load(std::sync::atomic::Ordering::Relaxed)
        })
}

/// `GET /v1/environment` (not wrapped in the `{response, client}` envelope).
pub async fn get(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.settings;
    let auth = &settings.auth;
    // Whether an enabled area finishes sign-ins at enterprise IdPs; the
    // session area asks the contract, not the area that provides it.
    let enterprise_sso =
        crate::modules::external_sign_in::provider(settings, "enterprise_sso").is_some();
    let social = crate::modules::external_sign_in::social(&state).await;
    let attribute = |enabled: bool, required: bool, first_factors: &[&str]| {
        json!({
            "enabled": enabled,
            "required": required,
            "used_for_first_factor": enabled && !first_factors.is_empty(),
            "first_factors": first_factors,
            "second_factors": [],
            "verifications": if first_factors.contains(&"email_code") { json!(["email_code"]) } else { json!([]) },
            "verify_at_sign_up": first_factors.contains(&"email_code"),
        })
    };
    HttpResponse::Ok().json(json!({
        "object": "environment",
        "auth_config": {
            "object": "auth_config",
            "id": state.instance.id,
            "single_session_mode": !settings.session.multi_session,
            "claimed_at": state.instance.created_at,
        },
        "display_config": {
            "object": "display_config",
            "instance_environment_type": state.instance.environment.as_str(),
            "application_name": settings.email.application_name,
            "show_last_used_badge": show_last_used_badge(&state),
        },
        "user_settings": {
            "attributes": {
                "email_address": attribute(true, auth.email_address_required, &["email_code"]),
                "username": attribute(auth.username_enabled, auth.username_required, &[]),
                "password": attribute(true, auth.password.required, &[]),
                "first_name": attribute(true, false, &[]),
                "last_name": attribute(true, false, &[]),
                "phone_number": attribute(false, false, &[]),
                "web3_wallet": attribute(false, false, &[]),
            },
            "sign_in": { "second_factor": { "required": false } },
            "sign_up": {
                "mode": "public",
                "progressive": true,
                "captcha_enabled": false,
                "legal_consent_enabled": false,
            },
            "password_settings": {
                "min_length": auth.password.min_length,
                "max_length": auth.password.max_length,
                "disable_hibp": true,
                "require_special_char": false,
                "require_numbers": false,
                "require_uppercase": false,
                "require_lowercase": false,
                "show_zxcvbn": false,
            },
            "username_settings": {
                "min_length": auth.username_min_length,
                "max_length": auth.username_max_length,
            },
            "social": social,
            "saml": { "enabled": enterprise_sso },
            "enterprise_sso": { "enabled": enterprise_sso },
        },
        "organization_settings": { "enabled": false },
        "maintenance_mode": false,
    }))
}
