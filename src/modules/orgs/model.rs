//! Organization, membership and role rows, and their Clerk objects.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::db::schema::{organization_memberships, organization_roles, organizations};
use crate::metadata::parse_metadata;

/// An `organizations` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = organizations, treat_none_as_null = true)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub max_allowed_memberships: i32,
    pub admin_delete_enabled: bool,
    pub public_metadata: String,
    pub private_metadata: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An `organization_memberships` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = organization_memberships)]
pub struct MembershipRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub public_metadata: String,
    pub private_metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An `organization_roles` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = organization_roles, treat_none_as_null = true)]
pub struct RoleRow {
    pub id: String,
    pub role_key: String,
    pub name: String,
    pub description: Option<String>,
    pub is_system: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's `organization` object.
#[derive(Debug, Clone, Serialize)]
pub struct OrganizationObject {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub slug: String,
    pub image_url: String,
    pub has_image: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members_count: Option<i64>,
    /// Whether no member can manage members (listed on request only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_member_with_elevated_permissions: Option<bool>,
    pub max_allowed_memberships: i32,
    pub admin_delete_enabled: bool,
    pub public_metadata: Value,
    /// Backend API only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    /// The creating user; absent (not `null`, which Clerk's schema does
    /// not allow) for an organization created without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl OrganizationObject {
    /// The Backend API form (with private metadata).
    pub fn backend(row: &OrganizationRow, members_count: Option<i64>) -> Self {
        let mut object = Self::frontend(row, members_count);
        object.private_metadata = Some(parse_metadata(&row.private_metadata));
        object
    }

    /// The Frontend API form (no private metadata).
    pub fn frontend(row: &OrganizationRow, members_count: Option<i64>) -> Self {
        Self {
            object: "organization",
            id: row.id.clone(),
            name: row.name.clone(),
            slug: row.slug.clone(),
            image_url: String::new(),
            has_image: false,
            members_count,
            missing_member_with_elevated_permissions: None,
            max_allowed_memberships: row.max_allowed_memberships,
            admin_delete_enabled: row.admin_delete_enabled,
            public_metadata: parse_metadata(&row.public_metadata),
            private_metadata: None,
            created_by: row.created_by.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Clerk's `organization_membership` object.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipObject {
    pub object: &'static str,
    pub id: String,
    pub role: String,
    pub role_name: String,
    pub permissions: Vec<String>,
    pub public_metadata: Value,
    /// Backend API only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    pub organization: OrganizationObject,
    pub public_user_data: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's `role` object (organization roles).
#[derive(Debug, Clone, Serialize)]
pub struct RoleObject {
    pub object: &'static str,
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub is_creator_eligible: bool,
    pub permissions: Vec<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}
