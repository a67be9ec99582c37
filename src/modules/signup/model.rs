//! Sign-up attempt rows and Clerk's `sign_up_attempt` object.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::schema::sign_ups;

/// A `sign_ups` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = sign_ups, treat_none_as_null = true)]
pub struct SignUpRow {
    pub id: String,
    pub client_id: String,
    pub status: String,
    pub email_address: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password_digest: Option<String>,
    pub unsafe_metadata: String,
    pub email_verification_status: Option<String>,
    pub code_digest: Option<String>,
    pub code_expire_at: Option<i64>,
    pub code_attempts: i32,
    pub code_sends: i32,
    pub code_last_sent_at: Option<i64>,
    pub created_user_id: Option<String>,
    pub created_session_id: Option<String>,
    pub abandon_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The organization invitation this sign-up came from, if any.
    pub organization_invitation_id: Option<String>,
    /// The sign-in attempt at an outside provider that carries a sign-up
    /// started with a social or enterprise strategy.
    pub external_sign_in_id: Option<String>,
}

/// Sign-up statuses.
pub mod status {
    pub const MISSING_REQUIREMENTS: &str = "missing_requirements";
    pub const COMPLETE: &str = "complete";
    pub const ABANDONED: &str = "abandoned";
}

/// What the instance requires of a sign-up.
#[derive(Debug, Clone)]
pub struct Requirements {
    pub required: Vec<&'static str>,
    pub optional: Vec<&'static str>,
}

impl SignUpRow {
    /// Required fields not given yet.
    pub fn missing_fields(&self, requirements: &Requirements) -> Vec<&'static str> {
        requirements
            .required
            .iter()
            .copied()
            .filter(|field| match *field {
                "email_address" => self.email_address.is_none(),
                "username" => self.username.is_none(),
                "password" => self.password_digest.is_none(),
                _ => false,
            })
            .collect()
    }

    /// Given fields that still need verification.
    pub fn unverified_fields(&self) -> Vec<&'static str> {
        match (
            &self.email_address,
            self.email_verification_status.as_deref(),
        ) {
            (Some(_), Some("verified")) | (None, _) => Vec::new(),
            _ => vec!["email_address"],
        }
    }
}

/// Clerk's `sign_up_attempt` object.
pub fn sign_up_object(row: &SignUpRow, requirements: &Requirements, now: i64) -> Value {
    let status = if row.status != status::COMPLETE && now >= row.abandon_at {
        status::ABANDONED
    } else {
        row.status.as_str()
    };
    let email_verification = row.email_address.as_ref().map(|_| {
        json!({
            "object": "verification_otp",
            "status": row.email_verification_status.as_deref().unwrap_or("unverified"),
            "strategy": "email_code",
            "attempts": row.code_attempts,
            "expire_at": row.code_expire_at,
            "next_action": if row.email_verification_status.as_deref() == Some("verified") { "" } else { "needs_prepare" },
            "supported_strategies": ["email_code"],
        })
    });
    json!({
        "object": "sign_up_attempt",
        "id": row.id,
        "status": status,
        "required_fields": requirements.required,
        "optional_fields": requirements.optional,
        "missing_fields": row.missing_fields(requirements),
        "unverified_fields": row.unverified_fields(),
        "verifications": {
            "email_address": email_verification,
            "phone_number": Value::Null,
            "web3_wallet": Value::Null,
            "external_account": Value::Null,
        },
        "username": row.username,
        "email_address": row.email_address,
        "phone_number": Value::Null,
        "web3_wallet": Value::Null,
        "password_enabled": row.password_digest.is_some(),
        "first_name": row.first_name,
        "last_name": row.last_name,
        "unsafe_metadata": serde_json::from_str::<Value>(&row.unsafe_metadata).unwrap_or_else(|_| json!({})),
        "public_metadata": {},
        "custom_action": false,
        "external_id": Value::Null,
        "created_session_id": row.created_session_id,
        "created_user_id": row.created_user_id,
        "abandon_at": row.abandon_at,
        "legal_accepted_at": Value::Null,
    })
}
