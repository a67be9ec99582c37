//! Request bodies of the Backend API users endpoints, as Clerk names them.

use serde::Deserialize;
use serde_json::Value;

use crate::http::Patch;

/// `POST /v1/users`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateUser {
    #[serde(default)]
    pub email_address: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_digest: Option<String>,
    pub password_hasher: Option<String>,
    #[serde(default)]
    pub skip_password_checks: bool,
    #[serde(default)]
    pub skip_password_requirement: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub external_id: Option<String>,
    pub public_metadata: Option<Value>,
    pub private_metadata: Option<Value>,
    pub unsafe_metadata: Option<Value>,
    pub delete_self_enabled: Option<bool>,
    pub create_organization_enabled: Option<bool>,
    pub create_organizations_limit: Option<i32>,
    pub legal_accepted_at: Option<String>,
    pub created_at: Option<String>,
    #[serde(default)]
    pub banned: bool,
    #[serde(default)]
    pub locked: bool,
    /// Not supported yet: refused when given, never silently dropped.
    pub phone_number: Option<Value>,
    pub web3_wallet: Option<Value>,
    pub totp_secret: Option<Value>,
    pub backup_codes: Option<Value>,
}

/// `PATCH /v1/users/{id}`. Absent fields stay as they are; `null` clears
/// the fields that may be empty.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateUser {
    #[serde(default)]
    pub external_id: Patch<String>,
    #[serde(default)]
    pub username: Patch<String>,
    #[serde(default)]
    pub first_name: Patch<String>,
    #[serde(default)]
    pub last_name: Patch<String>,
    #[serde(default)]
    pub locale: Patch<String>,
    pub password: Option<String>,
    pub password_digest: Option<String>,
    pub password_hasher: Option<String>,
    #[serde(default)]
    pub skip_password_checks: bool,
    pub primary_email_address_id: Option<String>,
    #[serde(default)]
    pub public_metadata: Patch<Value>,
    #[serde(default)]
    pub private_metadata: Patch<Value>,
    #[serde(default)]
    pub unsafe_metadata: Patch<Value>,
    pub delete_self_enabled: Option<bool>,
    pub create_organization_enabled: Option<bool>,
    #[serde(default)]
    pub create_organizations_limit: Patch<i32>,
    pub legal_accepted_at: Option<String>,
    pub created_at: Option<String>,
    /// Accepted for compatibility; revoking other sessions needs sessions,
    /// which a user changed here does not have yet.
    pub sign_out_of_other_sessions: Option<bool>,
    pub primary_phone_number_id: Option<Value>,
    pub primary_web3_wallet_id: Option<Value>,
    pub totp_secret: Option<Value>,
    pub backup_codes: Option<Value>,
}

/// `PATCH /v1/users/{id}/metadata` (each object deep-merged) and
/// `PUT /v1/users/{id}/metadata` (each object replaced).
#[derive(Debug, Default, Deserialize)]
pub struct MetadataPatch {
    pub public_metadata: Option<Value>,
    pub private_metadata: Option<Value>,
    pub unsafe_metadata: Option<Value>,
}

/// `POST /v1/users/{id}/verify_password`.
#[derive(Debug, Default, Deserialize)]
pub struct VerifyPassword {
    pub password: Option<String>,
}
