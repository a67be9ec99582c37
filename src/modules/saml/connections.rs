//! Managing SAML connections (`/v1/saml_connections`): every field is
//! checked before anything is written, IdP metadata is parsed (or fetched)
//! into the entity id, SSO URL and certificate it carries, and a domain can
//! belong to one connection only (the domains table's key decides a race).

use serde::Deserialize;

use super::idp_metadata::{self, IdpValues};
use super::model::{
    AttributeMapping, Connection, ConnectionObject, ConnectionRow, LoginHint, PROVIDERS,
};
use super::store::{self, ConnectionFilter};
use super::{certificates, pool, SamlState};
use crate::crypto::ids::{self, new_id};
use crate::db::write_transaction;
use crate::http::{ApiError, ErrorCode, Pagination, Patch};
use crate::ids::OrgIdOrSlug;
use crate::modules::{orgs, users};
use crate::state::AppState;
use crate::time::now_ms;

/// Connection ids: `samlc_…`, as Clerk's.
pub const PREFIX: &str = "samlc";
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

fn provider(value: String) -> Result<String, ApiError> {
    if PROVIDERS.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(ApiError::param_value(
            "provider",
            format!("provider must be one of {}.", PROVIDERS.join(", ")),
        ))
    }
}

fn login_hint(value: LoginHint) -> Result<String, ApiError> {
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
async fn apply(
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

/// Refuses to activate a connection an IdP could not answer for.
fn ensure_activatable(connection: &Connection) -> Result<(), ApiError> {
    if connection.row.active && !connection.is_usable() {
        return Err(ApiError::param_value(
            "active",
            "A connection can be activated only once its IdP entity ID, SSO URL and certificate are set.",
        ));
    }
    Ok(())
}

fn domain_taken(domain: &str) -> ApiError {
    ApiError::new(
        ErrorCode::FormIdentifierExists,
        "That domain is taken",
        format!("The domain {domain} is already served by another SAML connection."),
    )
    .with_param("domains")
}

/// Checks a connection's domains and writes its row, inside the caller's
/// transaction; a domain claimed concurrently fails on the key and is
/// reported the same.
fn write(
    conn: &mut crate::db::DbConnection,
    connection: &Connection,
    new: bool,
    domains_changed: bool,
) -> Result<(), ApiError> {
    if domains_changed {
        if let Some((domain, _)) = store::domain_owner(
            conn,
            &connection.domains,
            (!new).then_some(connection.row.id.as_str()),
        )? {
            return Err(domain_taken(&domain));
        }
    }
    let written = if new {
        store::insert(conn, connection)
    } else {
        store::save(conn, connection, domains_changed)
    };
    written.map_err(|e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => domain_taken(connection.domains.first().map_or("", String::as_str)),
        other => ApiError::from(other),
    })
}

/// `POST /v1/saml_connections`.
pub async fn create(
    state: &AppState,
    params: ConnectionParams,
) -> Result<ConnectionObject, ApiError> {
    let name_given = params.name.as_deref().is_some_and(|n| !n.trim().is_empty());
    if !name_given {
        return Err(ApiError::param_missing("name"));
    }
    let provider_name = params
        .provider
        .clone()
        .ok_or_else(|| ApiError::param_missing("provider"))?;
    let provider_name = provider(provider_name)?;
    if params.domain.is_none() && params.domains.is_none() {
        return Err(ApiError::param_missing("domains"));
    }
    for (param, given) in [
        ("active", params.active.is_some()),
        (
            "sync_user_attributes",
            params.sync_user_attributes.is_some(),
        ),
        ("allow_subdomains", params.allow_subdomains.is_some()),
        ("allow_idp_initiated", params.allow_idp_initiated.is_some()),
    ] {
        if given {
            return Err(ApiError::new(
                ErrorCode::FormParamUnknown,
                "Unknown parameter",
                format!("{param} is set with PATCH /v1/saml_connections/{{id}}, after creation."),
            )
            .with_param(param));
        }
    }
    let now = now_ms();
    let mut row = ConnectionRow {
        id: new_id(PREFIX),
        name: String::new(),
        attribute_mapping: serde_json::to_string(&AttributeMapping::for_provider(&provider_name))
            .map_err(ApiError::internal)?,
        provider: provider_name,
        idp_entity_id: None,
        idp_sso_url: None,
        idp_certificate: None,
        idp_metadata_url: None,
        idp_metadata: None,
        organization_id: None,
        active: false,
        sync_user_attributes: true,
        allow_subdomains: false,
        allow_idp_initiated: false,
        disable_additional_identifications: false,
        allow_organization_account_linking: false,
        login_hint: login_hint(LoginHint::default())?,
        created_at: now,
        updated_at: now,
        force_authn: false,
    };
    let domains = apply(state, &mut row, params).await?.unwrap_or_default();
    let connection = Connection { row, domains };
    let written = connection.clone();
    pool(state)
        .run("saml.connections.create", move |conn| {
            write_transaction(conn, |conn| write(conn, &written, true, true))
        })
        .await?;
    Ok(ConnectionObject::new(&connection, &state.public_url, 0))
}

fn not_found() -> ApiError {
    ApiError::not_found("SAML connection")
}

/// The connection `id`.
pub async fn find(state: &AppState, id: String) -> Result<Connection, ApiError> {
    if !ids::has_shape(&id, PREFIX) {
        return Err(not_found());
    }
    pool(state)
        .run("saml.connections.get", move |conn| {
            store::find(conn, &id)?.ok_or_else(not_found)
        })
        .await
}

async fn object(state: &AppState, connection: &Connection) -> Result<ConnectionObject, ApiError> {
    let count = users::service::enterprise_account_count(state, connection.row.id.clone()).await?;
    Ok(ConnectionObject::new(connection, &state.public_url, count))
}

/// `GET /v1/saml_connections/{id}`.
pub async fn get(state: &AppState, id: String) -> Result<ConnectionObject, ApiError> {
    let connection = find(state, id).await?;
    object(state, &connection).await
}

/// `PATCH /v1/saml_connections/{id}`: the row is read, changed and saved
/// under its lock, so two updates of different fields both stay.
pub async fn update(
    state: &AppState,
    id: String,
    params: ConnectionParams,
) -> Result<ConnectionObject, ApiError> {
    if let Some(provider_name) = &params.provider {
        provider(provider_name.clone())?;
    }
    // The IdP's metadata is fetched before the row is locked: no lock is
    // held across a network call.
    let current = find(state, id.clone()).await?;
    let mut row = current.row.clone();
    let new_domains = apply(state, &mut row, params).await?;
    let changed = ChangedFields::between(&current.row, &row);
    let connection = pool(state)
        .run("saml.connections.update", move |conn| {
            let (changed, new_domains) = (changed.clone(), new_domains.clone());
            write_transaction(conn, |conn| {
                let mut locked = store::find_for_update(conn, &id)?.ok_or_else(not_found)?;
                changed.apply(&mut locked.row);
                locked.row.updated_at = now_ms();
                let domains_changed = new_domains.as_ref().is_some_and(|d| *d != locked.domains);
                if let Some(domains) = new_domains {
                    locked.domains = domains;
                }
                ensure_activatable(&locked)?;
                write(conn, &locked, false, domains_changed)?;
                Ok::<_, ApiError>(locked)
            })
        })
        .await?;
    object(state, &connection).await
}

/// Calls `$apply!` with every column an update may change.
macro_rules! changeable_fields {
    ($apply:ident) => {
        $apply!(
            name,
            provider,
            idp_entity_id,
            idp_sso_url,
            idp_certificate,
            idp_metadata_url,
            idp_metadata,
            organization_id,
            attribute_mapping,
            active,
            sync_user_attributes,
            allow_subdomains,
            allow_idp_initiated,
            disable_additional_identifications,
            allow_organization_account_linking,
            login_hint,
            force_authn
        )
    };
}

/// The columns an update changed, applied again to the row as it is under
/// the lock.
#[derive(Debug, Clone)]
struct ChangedFields(ConnectionRow, Vec<&'static str>);

impl ChangedFields {
    fn between(before: &ConnectionRow, after: &ConnectionRow) -> Self {
        macro_rules! diff {
            ($($field:ident),*) => {{
                let mut names = Vec::new();
                $(if before.$field != after.$field { names.push(stringify!($field)); })*
                names
            }};
        }
        let names = changeable_fields!(diff);
        Self(after.clone(), names)
    }

    fn apply(&self, row: &mut ConnectionRow) {
        let new = &self.0;
        macro_rules! copy {
            ($($field:ident),*) => {
                $(if self.1.contains(&stringify!($field)) { row.$field = new.$field.clone(); })*
            };
        }
        changeable_fields!(copy);
    }
}

/// `DELETE /v1/saml_connections/{id}`. Users who signed in through it keep
/// their accounts; their links to it stay as history.
pub async fn delete(state: &AppState, id: String) -> Result<(), ApiError> {
    if !ids::has_shape(&id, PREFIX) {
        return Err(not_found());
    }
    let deleted = pool(state)
        .run("saml.connections.delete", move |conn| {
            write_transaction(conn, |conn| {
                store::delete(conn, &id).map_err(ApiError::from)
            })
        })
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// `GET /v1/saml_connections` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub query: Option<String>,
    pub order_by: Option<String>,
    /// Clerk's signed list: `org_…` or `+org_…` includes, `-org_…` excludes.
    #[serde(default, alias = "organization_id[]")]
    pub organization_id: Vec<String>,
}

/// Splits Clerk's signed `organization_id` list into the ids to include
/// (no prefix or `+`) and those to exclude (`-`). A `+` that arrived
/// unescaped in a query string is a space.
fn split_signed(values: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for value in values {
        let value = value.trim_end();
        if let Some(rest) = value.strip_prefix('-') {
            exclude.push(rest.to_owned());
        } else {
            include.push(value.strip_prefix(['+', ' ']).unwrap_or(value).to_owned());
        }
    }
    (include, exclude)
}

/// `GET /v1/saml_connections`: a page and the total.
pub async fn list(
    state: &AppState,
    params: ListParams,
) -> Result<(Vec<ConnectionObject>, i64), ApiError> {
    let page = Pagination::new(params.limit, params.offset)?;
    if params.organization_id.len() > 100 {
        return Err(ApiError::param_value(
            "organization_id",
            "At most 100 organization ids can be given.",
        ));
    }
    let order = match params.order_by.as_deref().unwrap_or("-created_at") {
        "-created_at" | "" => store::Order::NewestFirst,
        "+created_at" | "created_at" => store::Order::OldestFirst,
        "+name" | "name" => store::Order::NameAscending,
        "-name" => store::Order::NameDescending,
        _ => {
            return Err(ApiError::param_value(
                "order_by",
                "order_by must be created_at or name, with + or -.",
            ))
        }
    };
    let (organization_ids, excluded_organization_ids) = split_signed(params.organization_id);
    let filter = ConnectionFilter {
        query: params
            .query
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
        organization_ids,
        excluded_organization_ids,
        order,
    };
    let (connections, total) = pool(state)
        .run("saml.connections.list", move |conn| {
            store::list(conn, &filter, page.limit, page.offset).map_err(ApiError::from)
        })
        .await?;
    let ids: Vec<String> = connections.iter().map(|c| c.row.id.clone()).collect();
    let counts = users::service::enterprise_account_counts(state, ids).await?;
    let objects = connections
        .iter()
        .map(|c| {
            let count = counts.get(&c.row.id).copied().unwrap_or(0);
            ConnectionObject::new(c, &state.public_url, count)
        })
        .collect();
    Ok((objects, total))
}

/// The active connection that serves `email`'s domain: the domain itself,
/// or a parent domain of a connection that allows subdomains; the most
/// specific one wins.
pub async fn for_email(state: &AppState, email: &str) -> Result<Option<Connection>, ApiError> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(None);
    };
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let candidates: Vec<String> = (0..labels.len().saturating_sub(1))
        .map(|skip| labels[skip..].join("."))
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let exact = domain.clone();
    let found = pool(state)
        .run("saml.connections.for_domain", move |conn| {
            store::by_domains(conn, &candidates).map_err(ApiError::from)
        })
        .await?;
    Ok(found
        .into_iter()
        .filter(|(matched, connection)| {
            connection.is_usable() && (*matched == exact || connection.row.allow_subdomains)
        })
        .max_by_key(|(matched, _)| matched.len())
        .map(|(_, connection)| connection))
}

/// Whether `email` is within `connection`'s domains (or their subdomains,
/// where allowed): an IdP may vouch only for its own domains.
pub fn serves_email(connection: &Connection, email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    connection.domains.iter().any(|own| {
        domain == *own || (connection.row.allow_subdomains && domain.ends_with(&format!(".{own}")))
    })
}
