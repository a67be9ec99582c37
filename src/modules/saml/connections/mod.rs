//! Managing SAML connections (`/v1/saml_connections`): every field is
//! checked before anything is written, IdP metadata is parsed (or fetched)
//! into the entity id, SSO URL and certificate it carries, and a domain can
//! belong to one connection only (the domains table's key decides a race).

use serde::Deserialize;

use super::model::{AttributeMapping, Connection, ConnectionObject, ConnectionRow, LoginHint};
use super::pool;
use super::store::{self, ConnectionFilter};
use crate::crypto::ids::{self, new_id};
use crate::db::write_transaction;
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::modules::users;
use crate::state::AppState;
use crate::time::now_ms;

/// Connection ids: `samlc_…`, as Clerk's.
pub const PREFIX: &str = "samlc";

mod changes;
mod params;

use self::changes::ChangedFields;
use self::params::{apply, login_hint, provider};
pub use self::params::{normalize_domain, AttributeMappingParams, ConnectionParams};

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
