//! User rows and the Clerk `user` / `email_address` objects built from them.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::db::schema::{email_addresses, users};
use crate::metadata::parse_metadata;

/// A `users` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserRow {
    pub id: String,
    pub external_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub password_digest: Option<String>,
    pub password_hasher: Option<String>,
    pub password_last_updated_at: Option<i64>,
    pub primary_email_address_id: Option<String>,
    pub public_metadata: String,
    pub private_metadata: String,
    pub unsafe_metadata: String,
    pub banned: bool,
    pub locked_until: Option<i64>,
    pub delete_self_enabled: bool,
    pub create_organization_enabled: bool,
    pub create_organizations_limit: Option<i32>,
    pub legal_accepted_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// How the user last signed in (`password`, `email_code`, …).
    pub last_authentication_strategy: Option<String>,
}

/// An `email_addresses` row; the address is stored lower-cased.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_addresses)]
pub struct EmailAddressRow {
    pub id: String,
    pub user_id: String,
    pub email_address: String,
    pub verification_status: String,
    pub verification_strategy: String,
    pub reserved: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's `user` object.
#[derive(Debug, Clone, Serialize)]
pub struct UserObject {
    pub object: &'static str,
    pub id: String,
    pub external_id: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub primary_web3_wallet_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub profile_image_url: String,
    pub image_url: String,
    pub has_image: bool,
    pub public_metadata: Value,
    /// `None` only in the Frontend API's form ([`UserObject::for_frontend`]),
    /// which leaves the field out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    pub unsafe_metadata: Value,
    pub email_addresses: Vec<EmailAddressObject>,
    pub phone_numbers: Vec<Value>,
    pub web3_wallets: Vec<Value>,
    pub passkeys: Vec<Value>,
    pub external_accounts: Vec<Value>,
    pub saml_accounts: Vec<Value>,
    pub enterprise_accounts: Vec<Value>,
    pub password_enabled: bool,
    pub password_last_updated_at: Option<i64>,
    pub two_factor_enabled: bool,
    pub totp_enabled: bool,
    pub backup_code_enabled: bool,
    pub mfa_enabled_at: Option<i64>,
    pub mfa_disabled_at: Option<i64>,
    pub banned: bool,
    pub locked: bool,
    pub lockout_expires_in_seconds: Option<i64>,
    pub verification_attempts_remaining: Option<i64>,
    pub delete_self_enabled: bool,
    pub create_organization_enabled: bool,
    pub create_organizations_limit: Option<i32>,
    pub last_sign_in_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub legal_accepted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserObject {
    /// The user as the Frontend API shows it: without private metadata.
    pub fn for_frontend(mut self) -> Self {
        self.private_metadata = None;
        self
    }

    /// What the user is shown as: the first email address, else the username.
    pub fn identifier(&self) -> Option<&str> {
        self.email_addresses
            .first()
            .map(|email| email.email_address.as_str())
            .or(self.username.as_deref())
    }
}

/// Clerk's `public_user_data` on a Frontend API session.
#[derive(Debug, Clone, Serialize)]
pub struct PublicUserData {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: String,
    pub has_image: bool,
    pub identifier: Option<String>,
    pub profile_image_url: String,
}

impl PublicUserData {
    pub fn of(user: &UserObject) -> Self {
        Self {
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            image_url: user.image_url.clone(),
            has_image: user.has_image,
            identifier: user.identifier().map(str::to_owned),
            profile_image_url: user.profile_image_url.clone(),
        }
    }
}

/// Clerk's `email_address` object.
#[derive(Debug, Clone, Serialize)]
pub struct EmailAddressObject {
    pub object: &'static str,
    pub id: String,
    pub email_address: String,
    pub reserved: bool,
    pub verification: VerificationObject,
    pub linked_to: Vec<Value>,
    pub matches_sso_connection: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An identification's verification state.
#[derive(Debug, Clone, Serialize)]
pub struct VerificationObject {
    pub object: &'static str,
    pub status: String,
    pub strategy: String,
    pub attempts: Option<i32>,
    pub expire_at: Option<i64>,
}

/// Clerk's `DeletedObject`.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedObject {
    pub object: &'static str,
    pub id: String,
    pub deleted: bool,
}

/// `{object: "total_count", total_count}`.
#[derive(Debug, Clone, Serialize)]
pub struct TotalCount {
    pub object: &'static str,
    pub total_count: i64,
}

impl TotalCount {
    pub fn new(total_count: i64) -> Self {
        Self {
            object: "total_count",
            total_count,
        }
    }
}

impl EmailAddressObject {
    pub fn from_row(row: EmailAddressRow) -> Self {
        let object = match row.verification_strategy.as_str() {
            "admin" => "verification_admin",
            "saml" => "verification_saml",
            _ => "verification_otp",
        };
        Self {
            object: "email_address",
            id: row.id,
            email_address: row.email_address,
            reserved: row.reserved,
            verification: VerificationObject {
                object,
                status: row.verification_status,
                strategy: row.verification_strategy,
                attempts: None,
                expire_at: None,
            },
            linked_to: Vec::new(),
            matches_sso_connection: false,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl UserObject {
    /// Builds the API object; `now_ms` decides whether a lock is still in force.
    pub fn from_rows(row: UserRow, emails: Vec<EmailAddressRow>, now_ms: i64) -> Self {
        let lockout_remaining_ms = row
            .locked_until
            .map(|until| until - now_ms)
            .filter(|ms| *ms > 0);
        Self {
            object: "user",
            id: row.id,
            external_id: row.external_id,
            primary_email_address_id: row.primary_email_address_id,
            primary_phone_number_id: None,
            primary_web3_wallet_id: None,
            username: row.username,
            first_name: row.first_name,
            last_name: row.last_name,
            locale: row.locale,
            profile_image_url: String::new(),
            image_url: String::new(),
            has_image: false,
            public_metadata: parse_metadata(&row.public_metadata),
            private_metadata: Some(parse_metadata(&row.private_metadata)),
            unsafe_metadata: parse_metadata(&row.unsafe_metadata),
            email_addresses: emails
                .into_iter()
                .map(EmailAddressObject::from_row)
                .collect(),
            phone_numbers: Vec::new(),
            web3_wallets: Vec::new(),
            passkeys: Vec::new(),
            external_accounts: Vec::new(),
            saml_accounts: Vec::new(),
            enterprise_accounts: Vec::new(),
            password_enabled: row.password_digest.is_some(),
            password_last_updated_at: row.password_last_updated_at,
            two_factor_enabled: false,
            totp_enabled: false,
            backup_code_enabled: false,
            mfa_enabled_at: None,
            mfa_disabled_at: None,
            banned: row.banned,
            locked: lockout_remaining_ms.is_some(),
            // Rounded up, so a lock never reports 0 seconds while in force.
            lockout_expires_in_seconds: lockout_remaining_ms.map(|ms| (ms + 999) / 1000),
            verification_attempts_remaining: None,
            delete_self_enabled: row.delete_self_enabled,
            create_organization_enabled: row.create_organization_enabled,
            create_organizations_limit: row.create_organizations_limit,
            last_sign_in_at: row.last_sign_in_at,
            last_active_at: row.last_active_at,
            legal_accepted_at: row.legal_accepted_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
