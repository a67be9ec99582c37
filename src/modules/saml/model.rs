//! SAML connection rows and Clerk's `saml_connection` object.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema::saml_connections;

/// A `saml_connections` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = saml_connections, treat_none_as_null = true)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub idp_entity_id: Option<String>,
    pub idp_sso_url: Option<String>,
    pub idp_certificate: Option<String>,
    pub idp_metadata_url: Option<String>,
    pub idp_metadata: Option<String>,
    pub organization_id: Option<String>,
    pub attribute_mapping: String,
    pub active: bool,
    pub sync_user_attributes: bool,
    pub allow_subdomains: bool,
    pub allow_idp_initiated: bool,
    pub disable_additional_identifications: bool,
    pub allow_organization_account_linking: bool,
    pub login_hint: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub force_authn: bool,
}

/// A connection with its email domains, in the order they were given.
#[derive(Debug, Clone)]
pub struct Connection {
    pub row: ConnectionRow,
    pub domains: Vec<String>,
}

impl Connection {
    /// The attribute names to read the user's fields from.
    pub fn attribute_mapping(&self) -> AttributeMapping {
        serde_json::from_str(&self.row.attribute_mapping)
            .unwrap_or_else(|_| AttributeMapping::for_provider(&self.row.provider))
    }

    /// Whether an IdP can be sent a user to sign in: active, with the three
    /// values an AuthnRequest and its answer need.
    pub fn is_usable(&self) -> bool {
        self.row.active
            && self.row.idp_entity_id.is_some()
            && self.row.idp_sso_url.is_some()
            && self.row.idp_certificate.is_some()
    }
}

/// The providers Clerk names. They differ only in the default attribute
/// names; the protocol is the same.
pub const PROVIDERS: &[&str] = &["saml_custom", "saml_okta", "saml_google", "saml_microsoft"];

/// Where the user's fields are read from in an assertion: attribute names
/// (an empty name means "use the defaults": see `attributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeMapping {
    /// The user's id at the IdP; empty reads the assertion's NameID.
    pub user_id: String,
    pub email_address: String,
    pub first_name: String,
    pub last_name: String,
}

/// Microsoft Entra ID's claim names.
const MS_CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";

impl AttributeMapping {
    /// The names each provider sends by default, as its setup guides show.
    pub fn for_provider(provider: &str) -> Self {
        match provider {
            "saml_microsoft" => Self {
                user_id: "http://schemas.microsoft.com/identity/claims/objectidentifier".to_owned(),
                email_address: format!("{MS_CLAIMS}/emailaddress"),
                first_name: format!("{MS_CLAIMS}/givenname"),
                last_name: format!("{MS_CLAIMS}/surname"),
            },
            _ => Self {
                user_id: String::new(),
                email_address: "mail".to_owned(),
                first_name: "firstName".to_owned(),
                last_name: "lastName".to_owned(),
            },
        }
    }
}

/// `login_hint`: whether the IdP is told who is signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginHint {
    /// `email_address`, `custom_attribute` or `off`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Default for LoginHint {
    fn default() -> Self {
        Self {
            mode: "off".to_owned(),
            source: None,
        }
    }
}

/// What the service provider side of a connection is called, from the
/// instance's public URL.
#[derive(Debug, Clone)]
pub struct SpEndpoints {
    pub entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
}

impl SpEndpoints {
    /// The SP values of connection `id` on the Frontend API at
    /// `public_url`, in the form Clerk gives them.
    pub fn of(public_url: &str, id: &str) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            entity_id: format!("{base}/saml/{id}"),
            acs_url: format!("{base}/v1/saml/acs/{id}"),
            metadata_url: format!("{base}/v1/saml/metadata/{id}.xml"),
        }
    }
}

/// Clerk's `saml_connection` object.
#[derive(Debug, Serialize)]
pub struct ConnectionObject {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    /// The first domain (Clerk keeps it for older SDKs).
    pub domain: String,
    pub domains: Vec<String>,
    pub idp_entity_id: Option<String>,
    pub idp_sso_url: Option<String>,
    pub idp_certificate: Option<String>,
    pub idp_certificate_issued_at: Option<i64>,
    pub idp_certificate_expires_at: Option<i64>,
    pub idp_metadata_url: Option<String>,
    pub idp_metadata: Option<String>,
    pub acs_url: String,
    pub sp_entity_id: String,
    pub sp_metadata_url: String,
    pub organization_id: Option<String>,
    pub attribute_mapping: AttributeMapping,
    pub active: bool,
    pub provider: String,
    pub user_count: i64,
    pub sync_user_attributes: bool,
    pub allow_subdomains: bool,
    pub allow_idp_initiated: bool,
    pub disable_additional_identifications: bool,
    pub allow_organization_account_linking: bool,
    pub force_authn: bool,
    /// Whether users can sign in through it now.
    pub authenticatable: bool,
    /// Steward always creates users on their first sign-in.
    pub disable_jit_provisioning: bool,
    pub login_hint: Value,
    pub enterprise_connection_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ConnectionObject {
    /// The object for `connection`, with its SP values and user count.
    pub fn new(connection: &Connection, public_url: &str, user_count: i64) -> Self {
        let row = &connection.row;
        let sp = SpEndpoints::of(public_url, &row.id);
        let validity = row
            .idp_certificate
            .as_deref()
            .and_then(super::certificates::validity);
        Self {
            object: "saml_connection",
            id: row.id.clone(),
            name: row.name.clone(),
            domain: connection.domains.first().cloned().unwrap_or_default(),
            domains: connection.domains.clone(),
            idp_entity_id: row.idp_entity_id.clone(),
            idp_sso_url: row.idp_sso_url.clone(),
            idp_certificate: row.idp_certificate.clone(),
            idp_certificate_issued_at: validity.map(|v| v.0),
            idp_certificate_expires_at: validity.map(|v| v.1),
            idp_metadata_url: row.idp_metadata_url.clone(),
            idp_metadata: row.idp_metadata.clone(),
            acs_url: sp.acs_url,
            sp_entity_id: sp.entity_id,
            sp_metadata_url: sp.metadata_url,
            organization_id: row.organization_id.clone(),
            attribute_mapping: connection.attribute_mapping(),
            active: row.active,
            provider: row.provider.clone(),
            user_count,
            sync_user_attributes: row.sync_user_attributes,
            allow_subdomains: row.allow_subdomains,
            allow_idp_initiated: row.allow_idp_initiated,
            disable_additional_identifications: row.disable_additional_identifications,
            allow_organization_account_linking: row.allow_organization_account_linking,
            force_authn: row.force_authn,
            authenticatable: connection.is_usable(),
            disable_jit_provisioning: false,
            login_hint: serde_json::from_str(&row.login_hint)
                .unwrap_or_else(|_| serde_json::json!({ "mode": "off" })),
            enterprise_connection_id: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
