//! The parameters of `POST` and `PATCH /v1/saml_connections`: each field
//! checked and applied to a connection row; IdP metadata parsed (or
//! fetched) into the values it carries.

use serde::Deserialize;

use super::super::idp_metadata::{self, IdpValues};
use super::super::model::{AttributeMapping, ConnectionRow, LoginHint, PROVIDERS};
use super::super::{certificates, SamlState};
use crate::http::{ApiError, ErrorCode, Patch};
use crate::ids::OrgIdOrSlug;
use crate::modules::orgs;
use crate::state::AppState;

/// Longest name, entity id or URL accepted.
const MAX_TEXT_LEN: usize = 2048;
/// Most domains one connection may serve.
const MAX_DOMAINS: usize = 50;

/// `POST /v1/saml_connections` and `PATCH /v1/saml_connections/{id}`
/// parameters. Creation takes the first group; an update any of them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionParams {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub domain: Option<String>,
    pub domains: Option<Vec<String>>,
    pub idp_entity_id: Patch<String>,
    pub idp_sso_url: Patch<String>,
    pub idp_certificate: Patch<String>,
    pub idp_metadata_url: Patch<String>,
    pub idp_metadata: Patch<String>,
    pub organization_id: Patch<String>,
    pub attribute_mapping: Patch<AttributeMappingParams>,
    pub force_authn: Option<bool>,
    pub login_hint: Patch<LoginHint>,
    // Update only.
    pub active: Option<bool>,
    pub sync_user_attributes: Option<bool>,
    pub allow_subdomains: Option<bool>,
    pub allow_idp_initiated: Option<bool>,
    pub disable_additional_identifications: Option<bool>,
    pub allow_organization_account_linking: Option<bool>,
    /// Clerk's acknowledgement that domains with verified users may be
    /// removed; Steward keeps users when a domain goes, so it changes nothing.
    pub consent_verified_domains_deletion: Option<bool>,
}

/// `attribute_mapping` as given: any of the four names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMappingParams {
    pub user_id: Option<String>,
    pub email_address: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

fn text(param: &str, value: String) -> Result<String, ApiError> {
    let value = value.trim().to_owned();
    if value.len() > MAX_TEXT_LEN {
        return Err(ApiError::param_too_long(param, MAX_TEXT_LEN));
    }
    Ok(value)
}

fn optional_text(param: &str, value: Patch<String>) -> Result<Patch<String>, ApiError> {
    Ok(match value {
        Patch::Value(v) => match text(param, v)? {
            v if v.is_empty() => Patch::Null,
            v => Patch::Value(v),
        },
        other => other,
    })
}

fn http_url(param: &str, value: &str) -> Result<(), ApiError> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        _ => Err(ApiError::param_format(
            param,
            format!("{param} must be an absolute http(s) URL."),
        )),
    }
}

/// A domain as stored: lower case, without a trailing dot, made of DNS
/// labels, with at least one dot.
pub fn normalize_domain(raw: &str) -> Result<String, ApiError> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(ApiError::param_format(
            "domains",
            format!("{} is not a valid domain name.", raw.trim()),
        ));
    }
    Ok(domain)
}

fn domains(
    domain: Option<String>,
    list: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ApiError> {
    let given: Vec<String> = match (list, domain) {
        (Some(list), _) => list,
        (None, Some(one)) => vec![one],
        (None, None) => return Ok(None),
    };
    if given.len() > MAX_DOMAINS {
        return Err(ApiError::param_value(
            "domains",
            format!("A connection can serve at most {MAX_DOMAINS} domains."),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for raw in &given {
        let domain = normalize_domain(raw)?;
        if !out.contains(&domain) {
            out.push(domain);
        }
    }
    if out.is_empty() {
        return Err(ApiError::param_missing("domains"));
    }
    Ok(Some(out))
}

pub(super) fn provider(value: String) -> Result<String, ApiError> {
    if PROVIDERS.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(ApiError::param_value(
            "provider",
            format!("provider must be one of {}.", PROVIDERS.join(", ")),
        ))
    }
}

pub(super) fn login_hint(value: LoginHint) -> Result<String, ApiError> {
    if !matches!(
        value.mode.as_str(),
        "email_address" | "custom_attribute" | "off"
    ) {
        return Err(ApiError::param_value(
            "login_hint",
            "login_hint.mode must be email_address, custom_attribute or off.",
        ));
    }
    if value.mode == "custom_attribute" && value.source.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::param_missing("login_hint.source"));
    }
    serde_json::to_string(&value).map_err(ApiError::internal)
}

fn apply_mapping(
    base: AttributeMapping,
    given: AttributeMappingParams,
) -> Result<String, ApiError> {
    let pick = |param: &str, value: Option<String>, current: String| -> Result<String, ApiError> {
        match value {
            Some(v) => text(&format!("attribute_mapping.{param}"), v),
            None => Ok(current),
        }
    };
    let mapping = AttributeMapping {
        user_id: pick("user_id", given.user_id, base.user_id)?,
        email_address: pick("email_address", given.email_address, base.email_address)?,
        first_name: pick("first_name", given.first_name, base.first_name)?,
        last_name: pick("last_name", given.last_name, base.last_name)?,
    };
    serde_json::to_string(&mapping).map_err(ApiError::internal)
}

/// The IdP values given as metadata (pasted, or fetched from its URL),
/// which win over the separate fields, as in Clerk.
async fn metadata_values(
    state: &AppState,
    row: &mut ConnectionRow,
    metadata: Patch<String>,
    metadata_url: Patch<String>,
) -> Result<Option<IdpValues>, ApiError> {
    if let Some(change) = metadata_url.into_change() {
        row.idp_metadata_url = change.clone();
        if let Some(url) = change {
            let saml = SamlState::of(state)?;
            let (xml, values) = idp_metadata::fetch(&saml.http, &url).await?;
            row.idp_metadata = Some(xml);
            return Ok(Some(values));
        }
    }
    if let Some(change) = metadata.into_change() {
        row.idp_metadata = change.clone();
        if let Some(xml) = change {
            return idp_metadata::parse(&xml, "idp_metadata").map(Some);
        }
    }
    Ok(None)
}

/// Applies `params` to `row` (a new row for creation).
pub(super) async fn apply(
    state: &AppState,
    row: &mut ConnectionRow,
    params: ConnectionParams,
) -> Result<Option<Vec<String>>, ApiError> {
    if let Some(name) = params.name {
        let name = text("name", name)?;
        if name.is_empty() {
            return Err(ApiError::param_missing("name"));
        }
        row.name = name;
    }
    if let Some(value) = params.provider {
        row.provider = provider(value)?;
    }
    let new_domains = domains(params.domain, params.domains)?;
    for (param, value, field) in [
        (
            "idp_entity_id",
            params.idp_entity_id,
            &mut row.idp_entity_id,
        ),
        ("idp_sso_url", params.idp_sso_url, &mut row.idp_sso_url),
    ] {
        if let Some(change) = optional_text(param, value)?.into_change() {
            *field = change;
        }
    }
    if let Some(url) = &row.idp_sso_url {
        http_url("idp_sso_url", url)?;
    }
    if let Some(change) = params.idp_certificate.into_change() {
        row.idp_certificate = match change.filter(|c| !c.trim().is_empty()) {
            Some(pem) => Some(
                certificates::parse(&pem)
                    .and_then(|c| certificates::to_pem(&c))
                    .ok_or_else(|| {
                        ApiError::param_format(
                            "idp_certificate",
                            "idp_certificate must be an X.509 certificate (PEM or base64 DER).",
                        )
                    })?,
            ),
            None => None,
        };
    }
    let metadata_url = optional_text("idp_metadata_url", params.idp_metadata_url)?;
    if let Some(values) = metadata_values(state, row, params.idp_metadata, metadata_url).await? {
        row.idp_entity_id = Some(values.entity_id);
        row.idp_sso_url = Some(values.sso_url);
        row.idp_certificate = Some(values.certificate);
    }
    if let Some(change) = params.organization_id.into_change() {
        row.organization_id = match change.filter(|id| !id.is_empty()) {
            Some(id) => {
                let (org, _) = orgs::service::get(state, OrgIdOrSlug::from(id))
                    .await
                    .map_err(|e| match e.code() {
                        ErrorCode::ResourceNotFound => {
                            ApiError::not_found("organization").with_param("organization_id")
                        }
                        _ => e,
                    })?;
                Some(org.id)
            }
            None => None,
        };
    }
    match params.attribute_mapping {
        Patch::Value(given) => {
            row.attribute_mapping = apply_mapping(
                serde_json::from_str(&row.attribute_mapping).unwrap_or_default(),
                given,
            )?;
        }
        Patch::Null => {
            row.attribute_mapping =
                serde_json::to_string(&AttributeMapping::for_provider(&row.provider))
                    .map_err(ApiError::internal)?;
        }
        Patch::Absent => {}
    }
    match params.login_hint {
        Patch::Value(hint) => row.login_hint = login_hint(hint)?,
        Patch::Null => row.login_hint = login_hint(LoginHint::default())?,
        Patch::Absent => {}
    }
    for (value, field) in [
        (params.force_authn, &mut row.force_authn),
        (params.active, &mut row.active),
        (params.sync_user_attributes, &mut row.sync_user_attributes),
        (params.allow_subdomains, &mut row.allow_subdomains),
        (params.allow_idp_initiated, &mut row.allow_idp_initiated),
        (
            params.disable_additional_identifications,
            &mut row.disable_additional_identifications,
        ),
        (
            params.allow_organization_account_linking,
            &mut row.allow_organization_account_linking,
        ),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
    Ok(new_domains)
}
