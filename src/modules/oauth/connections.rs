//! Social connections: those of the configuration file
//! (`[modules.oauth.connections.<provider>]`, read-only) and those managed
//! through Steward's Backend API extension (`/v1/oauth_connections`), whose
//! client secrets are sealed under the instance encryption key. A
//! connection in the file wins over a stored one of the same strategy.

use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::providers::{Connection, Provider};
use super::schema::oauth_connections;
use super::{pool, OauthState};
use crate::crypto::ids::new_id;
use crate::http::{ApiError, ErrorCode, Patch};
use crate::instance::encryption::configured_key;
use crate::state::AppState;
use crate::time::now_ms;

/// An `oauth_connections` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = oauth_connections, treat_none_as_null = true)]
pub struct ConnectionRow {
    pub id: String,
    pub strategy: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: String,
    pub enabled: bool,
    pub issuer: Option<String>,
    pub tenant: Option<String>,
    pub name: Option<String>,
    pub logo_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn secret_context(strategy: &str) -> String {
    format!("oauth_connections.client_secret:{strategy}")
}

fn from_settings(
    strategy: String,
    own: &super::settings::ConnectionSettings,
) -> Option<Connection> {
    Some(
        Connection {
            provider: Provider::of(&strategy)?,
            strategy,
            client_id: own.client_id.clone(),
            client_secret: SecretString::from(own.client_secret.clone()),
            scopes: own.scopes.clone(),
            enabled: own.enabled,
            issuer: own.issuer.clone(),
            tenant: own.tenant.clone(),
            github_web_url: own.github_web_url.clone(),
            github_api_url: own.github_api_url.clone(),
            name: own.name.clone(),
            logo_url: (!own.logo_url.is_empty()).then(|| own.logo_url.clone()),
            source: "config",
        }
        .with_defaults(),
    )
}

fn from_row(state: &AppState, row: ConnectionRow) -> Result<Connection, ApiError> {
    let key = configured_key(&state.settings).map_err(ApiError::internal)?;
    let secret = key
        .open(&row.client_secret, &secret_context(&row.strategy))
        .map_err(|e| ApiError::internal(format!("an OAuth client secret cannot be opened: {e}")))?;
    let secret = String::from_utf8(secret.expose_secret().to_vec()).map_err(ApiError::internal)?;
    Ok(Connection {
        provider: Provider::of(&row.strategy)
            .ok_or_else(|| ApiError::internal("stored strategy unknown"))?,
        strategy: row.strategy,
        client_id: row.client_id,
        client_secret: SecretString::from(secret),
        scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
        enabled: row.enabled,
        issuer: row.issuer.unwrap_or_default(),
        tenant: row.tenant.unwrap_or_default(),
        github_web_url: String::new(),
        github_api_url: String::new(),
        name: row.name.unwrap_or_default(),
        logo_url: row.logo_url,
        source: "api",
    }
    .with_defaults())
}

/// The file's connections, by strategy.
fn configured(state: &AppState) -> Result<Vec<Connection>, ApiError> {
    let own = &OauthState::of(state)?.settings;
    Ok(own
        .connections
        .iter()
        .filter_map(|(key, c)| from_settings(format!("oauth_{key}"), c))
        .collect())
}

/// Every connection, the file's first.
pub async fn all(state: &AppState) -> Result<Vec<Connection>, ApiError> {
    let mut connections = configured(state)?;
    let rows = pool(state)
        .run("oauth.connections.list", |conn| {
            oauth_connections::table
                .order(oauth_connections::strategy)
                .select(ConnectionRow::as_select())
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    for row in rows {
        if !connections.iter().any(|c| c.strategy == row.strategy) {
            connections.push(from_row(state, row)?);
        }
    }
    Ok(connections)
}

/// The `user_settings.social` entries of the enabled connections, by
/// strategy: read without opening any client secret, as
/// `/v1/environment` asks for them on every page load of clerk-js.
pub async fn social_entries(state: &AppState) -> Result<Vec<(String, Value)>, ApiError> {
    let mut entries: Vec<(String, Value)> = configured(state)?
        .iter()
        .filter(|c| c.enabled)
        .map(|c| (c.strategy.clone(), c.social_entry()))
        .collect();
    let rows = pool(state)
        .run("oauth.connections.social", |conn| {
            oauth_connections::table
                .filter(oauth_connections::enabled.eq(true))
                .order(oauth_connections::strategy)
                .select(ConnectionRow::as_select())
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    for row in rows {
        if entries
            .iter()
            .any(|(strategy, _)| *strategy == row.strategy)
        {
            continue;
        }
        let Some(provider) = Provider::of(&row.strategy) else {
            continue;
        };
        let shown = Connection {
            provider,
            strategy: row.strategy.clone(),
            client_id: row.client_id,
            client_secret: SecretString::from(String::new()),
            scopes: Vec::new(),
            enabled: row.enabled,
            issuer: String::new(),
            tenant: String::new(),
            github_web_url: String::new(),
            github_api_url: String::new(),
            name: row.name.unwrap_or_default(),
            logo_url: row.logo_url,
            source: "api",
        }
        .with_defaults();
        entries.push((row.strategy, shown.social_entry()));
    }
    Ok(entries)
}

/// The enabled connection of `strategy`.
pub async fn enabled(state: &AppState, strategy: &str) -> Result<Connection, ApiError> {
    all(state)
        .await?
        .into_iter()
        .find(|c| c.strategy == strategy && c.enabled)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::OauthProviderNotEnabled,
                "OAuth provider not enabled",
                format!("Sign-in with {strategy} is not enabled on this instance."),
            )
            .with_param("strategy")
        })
}

/// Clerk-style object of Steward's `/v1/oauth_connections` (never the secret).
pub fn object(state: &AppState, connection: &Connection) -> Value {
    json!({
        "object": "oauth_connection",
        "strategy": connection.strategy,
        "client_id": connection.client_id,
        "scopes": connection.scopes,
        "enabled": connection.enabled,
        "issuer": (!connection.issuer.is_empty()).then_some(&connection.issuer),
        "tenant": (connection.provider == Provider::Microsoft).then_some(&connection.tenant),
        "name": connection.name,
        "logo_url": connection.logo_url,
        "callback_url": format!("{}/v1/oauth_callback", state.public_url),
        "source": connection.source,
    })
}

/// `POST /v1/oauth_connections` and `PATCH /v1/oauth_connections/{strategy}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionParams {
    pub strategy: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub issuer: Patch<String>,
    pub tenant: Patch<String>,
    pub name: Patch<String>,
    pub logo_url: Patch<String>,
}

fn in_file(strategy: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ActionNotAllowed,
        "Configured in the file",
        format!("{strategy} is configured in the configuration file; change it there."),
    )
}

fn check_text(param: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::param_too_long(param, max));
    }
    Ok(())
}

fn check_url(param: &str, value: &str) -> Result<(), ApiError> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::param_format(
            param,
            format!("{param} must be an absolute http(s) URL."),
        )),
    }
}

/// Applies `params` to `row`; `secret` is the new client secret, if given.
fn apply(row: &mut ConnectionRow, params: ConnectionParams) -> Result<Option<String>, ApiError> {
    if let Some(client_id) = params.client_id {
        check_text("client_id", &client_id, 512)?;
        if client_id.trim().is_empty() {
            return Err(ApiError::param_missing("client_id"));
        }
        row.client_id = client_id.trim().to_owned();
    }
    if let Some(scopes) = params.scopes {
        if scopes.len() > 50
            || scopes
                .iter()
                .any(|s| s.is_empty() || s.len() > 256 || s.contains(char::is_whitespace))
        {
            return Err(ApiError::param_value(
                "scopes",
                "scopes must be up to 50 names without spaces.",
            ));
        }
        row.scopes = scopes.join(" ");
    }
    if let Some(enabled) = params.enabled {
        row.enabled = enabled;
    }
    for (param, value, field) in [
        ("issuer", params.issuer, &mut row.issuer),
        ("tenant", params.tenant, &mut row.tenant),
        ("name", params.name, &mut row.name),
        ("logo_url", params.logo_url, &mut row.logo_url),
    ] {
        if let Some(change) = value.into_change() {
            let change = change.filter(|v| !v.trim().is_empty());
            if let Some(v) = &change {
                check_text(param, v, 2048)?;
                if param == "issuer" || param == "logo_url" {
                    check_url(param, v)?;
                }
            }
            *field = change;
        }
    }
    if row.strategy.starts_with("oauth_custom_") && row.issuer.is_none() {
        return Err(ApiError::param_missing("issuer"));
    }
    match params.client_secret {
        Some(secret) if secret.is_empty() => Err(ApiError::param_missing("client_secret")),
        Some(secret) => {
            check_text("client_secret", &secret, 2048)?;
            Ok(Some(secret))
        }
        None => Ok(None),
    }
}

fn seal(state: &AppState, strategy: &str, secret: &str) -> Result<String, ApiError> {
    configured_key(&state.settings)
        .and_then(|key| key.seal(secret.as_bytes(), &secret_context(strategy)))
        .map_err(ApiError::internal)
}

/// `POST /v1/oauth_connections`.
pub async fn create(state: &AppState, mut params: ConnectionParams) -> Result<Value, ApiError> {
    let strategy = params
        .strategy
        .take()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::param_missing("strategy"))?;
    if Provider::of(&strategy).is_none() {
        return Err(ApiError::param_value(
            "strategy",
            "strategy must be oauth_google, oauth_github, oauth_microsoft or oauth_custom_<key> ([a-z0-9_], up to 32).",
        ));
    }
    if configured(state)?.iter().any(|c| c.strategy == strategy) {
        return Err(in_file(&strategy));
    }
    if params.client_id.is_none() {
        return Err(ApiError::param_missing("client_id"));
    }
    let now = now_ms();
    let mut row = ConnectionRow {
        id: new_id("oac"),
        strategy: strategy.clone(),
        client_id: String::new(),
        client_secret: String::new(),
        scopes: String::new(),
        enabled: true,
        issuer: None,
        tenant: None,
        name: None,
        logo_url: None,
        created_at: now,
        updated_at: now,
    };
    let secret =
        apply(&mut row, params)?.ok_or_else(|| ApiError::param_missing("client_secret"))?;
    row.client_secret = seal(state, &strategy, &secret)?;
    let saved = row.clone();
    pool(state)
        .run("oauth.connections.create", move |conn| {
            diesel::insert_into(oauth_connections::table)
                .values(&saved)
                .execute(conn)
                .map(drop)
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => ApiError::identifier_exists("strategy", "connection"),
                    other => ApiError::from(other),
                })
        })
        .await?;
    Ok(object(state, &from_row(state, row)?))
}

/// `PATCH /v1/oauth_connections/{strategy}`.
pub async fn update(
    state: &AppState,
    strategy: String,
    params: ConnectionParams,
) -> Result<Value, ApiError> {
    if params.strategy.is_some() {
        return Err(ApiError::param_value(
            "strategy",
            "A connection's strategy cannot change.",
        ));
    }
    if configured(state)?.iter().any(|c| c.strategy == strategy) {
        return Err(in_file(&strategy));
    }
    let key = configured_key(&state.settings).map_err(ApiError::internal)?;
    let wanted = strategy.clone();
    let row = pool(state)
        .run("oauth.connections.get", move |conn| {
            oauth_connections::table
                .filter(oauth_connections::strategy.eq(&wanted))
                .select(ConnectionRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| ApiError::not_found("OAuth connection"))
        })
        .await?;
    let mut row = row;
    row.updated_at = now_ms();
    if let Some(secret) = apply(&mut row, params)? {
        row.client_secret = key
            .seal(secret.as_bytes(), &secret_context(&row.strategy))
            .map_err(ApiError::internal)?;
    }
    let saved = row.clone();
    pool(state)
        .run("oauth.connections.save", move |conn| {
            diesel::update(oauth_connections::table.find(&saved.id))
                .set(&saved)
                .execute(conn)
                .map(drop)
                .map_err(ApiError::from)
        })
        .await?;
    Ok(object(state, &from_row(state, row)?))
}

/// `DELETE /v1/oauth_connections/{strategy}`. Accounts already linked stay.
pub async fn delete(state: &AppState, strategy: String) -> Result<(), ApiError> {
    if configured(state)?.iter().any(|c| c.strategy == strategy) {
        return Err(in_file(&strategy));
    }
    let deleted = pool(state)
        .run("oauth.connections.delete", move |conn| {
            diesel::delete(
                oauth_connections::table.filter(oauth_connections::strategy.eq(&strategy)),
            )
            .execute(conn)
            .map_err(ApiError::from)
        })
        .await?;
    if deleted == 1 {
        Ok(())
    } else {
        Err(ApiError::not_found("OAuth connection"))
    }
}
