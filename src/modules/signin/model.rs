//! Sign-in attempt rows and Clerk's `sign_in_attempt` object.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::schema::sign_ins;
use crate::modules::users::service::SignInUser;

/// A `sign_ins` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = sign_ins, treat_none_as_null = true)]
pub struct SignInRow {
    pub id: String,
    pub client_id: String,
    pub status: String,
    pub identifier: Option<String>,
    pub user_id: Option<String>,
    pub first_factor_strategy: Option<String>,
    pub first_factor_status: Option<String>,
    pub email_address_id: Option<String>,
    pub code_digest: Option<String>,
    pub code_expire_at: Option<i64>,
    pub code_attempts: i32,
    pub code_sends: i32,
    pub code_last_sent_at: Option<i64>,
    pub created_session_id: Option<String>,
    pub abandon_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where the browser goes to finish at an outside IdP, while unverified.
    pub external_redirect_url: Option<String>,
    /// Why the IdP's answer was refused: a Clerk error object, as JSON.
    pub first_factor_error: Option<String>,
    /// SHA-256 of the one-time nonce a native app completes with.
    pub rotating_token_nonce_digest: Option<String>,
    pub enterprise_connection_id: Option<String>,
    pub enterprise_connection_name: Option<String>,
    /// A new person's verified identity (opaque JSON of the area that
    /// verified it), until a sign-up with `transfer=true` takes it.
    pub transfer_identity: Option<String>,
}

/// Sign-in statuses.
pub mod status {
    pub const NEEDS_IDENTIFIER: &str = "needs_identifier";
    pub const NEEDS_FIRST_FACTOR: &str = "needs_first_factor";
    pub const COMPLETE: &str = "complete";
    pub const ABANDONED: &str = "abandoned";
}

/// The first factors a user can sign in with.
pub fn supported_first_factors(user: &SignInUser) -> Vec<Value> {
    let mut factors = Vec::new();
    if user.password.is_some() {
        factors.push(json!({ "strategy": "password" }));
    }
    for email in &user.emails {
        factors.push(json!({
            "strategy": "email_code",
            "safe_identifier": mask_email(&email.email_address),
            "email_address_id": email.id,
            "primary": user.primary_email_address_id.as_deref() == Some(email.id.as_str()),
        }));
    }
    factors
}

/// Strategies finished at an outside identity provider.
pub fn is_external(strategy: &str) -> bool {
    matches!(strategy, "enterprise_sso" | "saml") || strategy.starts_with("oauth_")
}

/// The user's factors, and the SSO connection the attempt started with.
fn first_factors(row: &SignInRow, user: Option<&SignInUser>) -> Vec<Value> {
    let mut factors = user.map(supported_first_factors).unwrap_or_default();
    let strategy = row.first_factor_strategy.as_deref().unwrap_or_default();
    if strategy.starts_with("oauth_") {
        // A social attempt lists its provider, as Clerk does.
        factors.push(json!({ "strategy": strategy }));
    } else if let (Some(id), Some(name)) = (
        &row.enterprise_connection_id,
        &row.enterprise_connection_name,
    ) {
        factors.push(json!({
            "strategy": "enterprise_sso",
            "safe_identifier": row.identifier,
            "enterprise_connection_id": id,
            "enterprise_connection_name": name,
        }));
    }
    factors
}

/// Clerk's `verification_saml` or `verification_oauth`: the provider's URL
/// while unverified, the refusal's error once failed. Clerk names the SAML
/// strategy `saml` here whichever name the attempt was started with.
fn external_verification(row: &SignInRow, now: i64) -> Value {
    let expired = row.first_factor_status.as_deref() == Some("unverified")
        && row.code_expire_at.is_some_and(|at| now >= at);
    let status = if expired {
        "expired"
    } else {
        row.first_factor_status.as_deref().unwrap_or("unverified")
    };
    let error: Value = row
        .first_factor_error
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or(Value::Null);
    let strategy = row.first_factor_strategy.as_deref().unwrap_or_default();
    let (object, strategy) = if strategy.starts_with("oauth_") {
        ("verification_oauth", strategy)
    } else {
        ("verification_saml", "saml")
    };
    json!({
        "object": object,
        "status": status,
        "strategy": strategy,
        "external_verification_redirect_url": if status == "unverified" {
            row.external_redirect_url.clone()
        } else {
            None
        },
        "error": error,
        "attempts": Value::Null,
        "expire_at": row.code_expire_at,
    })
}

/// `a***@example.com`: enough to recognise, not enough to harvest.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Clerk's `sign_in_attempt` object.
pub fn sign_in_object(row: &SignInRow, user: Option<&SignInUser>, now: i64) -> Value {
    let status = if row.status != status::COMPLETE && now >= row.abandon_at {
        status::ABANDONED
    } else {
        row.status.as_str()
    };
    let verification = row.first_factor_strategy.as_ref().map(|strategy| {
        if is_external(strategy) {
            return external_verification(row, now);
        }
        json!({
            "object": if strategy == "password" { "verification_password" } else { "verification_otp" },
            "status": row.first_factor_status,
            "strategy": strategy,
            "attempts": (strategy != "password").then_some(row.code_attempts),
            "expire_at": row.code_expire_at,
        })
    });
    json!({
        "object": "sign_in_attempt",
        "id": row.id,
        "status": status,
        "supported_identifiers": ["email_address", "username"],
        "identifier": row.identifier,
        "supported_first_factors": first_factors(row, user),
        "supported_second_factors": Value::Null,
        "first_factor_verification": verification,
        "second_factor_verification": Value::Null,
        "user_data": user.map(|u| json!({
            "first_name": u.first_name,
            "last_name": u.last_name,
            "image_url": "",
            "has_image": false,
        })),
        "created_session_id": row.created_session_id,
        "abandon_at": row.abandon_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}
