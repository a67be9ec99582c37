//! Starting a social sign-in: the browser goes to the provider with an
//! authorization request (code flow, PKCE, state, nonce); the request is
//! kept in `oauth_states`, found again by the digest of its `state` (the
//! state itself is not stored) and used once by the callback.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::schema::oauth_states;
use super::{client, connections, pool, OauthState};
use crate::http::ApiError;
use crate::instance::encryption::configured_key;
use crate::modules::external_sign_in::{ExternalSignIn, StartRequest, Started};
use crate::state::AppState;
use crate::time::now_ms;

/// The provider of every `oauth_<provider>` strategy with a connection.
pub static SOCIAL: Social = Social;

/// See [`SOCIAL`].
#[derive(Debug)]
pub struct Social;

impl ExternalSignIn for Social {
    fn serves(&self, _settings: &crate::config::Settings, strategy: &str) -> bool {
        super::providers::Provider::of(strategy).is_some()
    }

    fn start<'a>(
        &'a self,
        state: &'a AppState,
        request: StartRequest,
    ) -> LocalBoxFuture<'a, Result<Started, ApiError>> {
        Box::pin(start(state, request))
    }

    fn social<'a>(
        &'a self,
        state: &'a AppState,
    ) -> LocalBoxFuture<'a, Vec<(String, serde_json::Value)>> {
        Box::pin(async move {
            match connections::social_entries(state).await {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(%error, "social connections unreadable; none listed");
                    Vec::new()
                }
            }
        })
    }
}

/// An `oauth_states` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_states)]
pub struct StateRow {
    pub id: String,
    pub strategy: String,
    /// The sign-in it finishes; `None` when it connects an account.
    pub sign_in_id: Option<String>,
    /// The signed-in user it connects an account to.
    pub user_id: Option<String>,
    pub client_id: String,
    pub redirect_url: String,
    pub native: bool,
    pub nonce: String,
    pub pkce_verifier: String,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
}

/// The row id of a `state`: its SHA-256, so a database reader cannot
/// complete someone's sign-in with a stolen code.
pub fn state_id(state: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(state.as_bytes()))
}

/// What the PKCE verifier is sealed for.
pub fn verifier_context(id: &str) -> String {
    format!("oauth_states.pkce_verifier:{id}")
}

/// Where providers send the browser back.
pub fn callback_url(state: &AppState) -> String {
    format!("{}/v1/oauth_callback", state.public_url)
}

/// Who an authorization request is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    SignIn(crate::ids::SignInId),
    Connect(crate::ids::UserId),
}

/// Where the authorization request was made from and goes back to.
#[derive(Debug, Clone)]
pub struct Origin {
    pub client_id: crate::ids::ClientId,
    pub redirect_url: String,
    pub native: bool,
}

async fn start(state: &AppState, request: StartRequest) -> Result<Started, ApiError> {
    let connection = connections::enabled(state, &request.strategy).await?;
    let origin = Origin {
        client_id: request.client_id.clone(),
        redirect_url: request.redirect_url.clone(),
        native: request.native,
    };
    let (url, expire_at) = authorize(
        state,
        &connection,
        Purpose::SignIn(request.sign_in_id.clone()),
        origin,
        &[],
    )
    .await?;
    Ok(Started {
        redirect_url: url,
        expire_at,
        connection_id: connection.strategy.clone(),
        connection_name: connection.name.clone(),
    })
}

/// Records an authorization request for `purpose` and returns the
/// provider's URL with it, and until when it can be answered.
pub async fn authorize(
    state: &AppState,
    connection: &super::providers::Connection,
    purpose: Purpose,
    origin: Origin,
    extra_scopes: &[String],
) -> Result<(String, i64), ApiError> {
    let oauth = OauthState::of(state)?;
    let authorization =
        client::authorize(&oauth.http, connection, &callback_url(state), extra_scopes).await?;
    let now = now_ms();
    let id = state_id(&authorization.state);
    let key = configured_key(&state.settings).map_err(ApiError::internal)?;
    let row = StateRow {
        pkce_verifier: key
            .seal(
                authorization.pkce_verifier.as_bytes(),
                &verifier_context(&id),
            )
            .map_err(ApiError::internal)?,
        id,
        strategy: connection.strategy.clone(),
        sign_in_id: match &purpose {
            Purpose::SignIn(id) => Some(id.to_string()),
            Purpose::Connect(_) => None,
        },
        user_id: match &purpose {
            Purpose::Connect(id) => Some(id.to_string()),
            Purpose::SignIn(_) => None,
        },
        client_id: origin.client_id.to_string(),
        redirect_url: origin.redirect_url,
        native: origin.native,
        nonce: authorization.nonce,
        expires_at: now + oauth.settings.state_ttl_seconds * 1000,
        consumed_at: None,
        created_at: now,
    };
    let expire_at = row.expires_at;
    pool(state)
        .run("oauth.states.insert", move |conn| {
            diesel::insert_into(oauth_states::table)
                .values(&row)
                .execute(conn)
                .map(drop)
                .map_err(ApiError::from)
        })
        .await?;
    Ok((authorization.url, expire_at))
}

/// Uses up the request `state` names (unexpired, unused), in one
/// conditional update: a replayed callback finds nothing. Returns it with
/// its PKCE verifier opened.
pub async fn consume(app: &AppState, state: &str) -> Result<Option<(StateRow, String)>, ApiError> {
    let id = state_id(state);
    let row = pool(app)
        .run("oauth.states.consume", move |conn| {
            let now = now_ms();
            let used = diesel::update(
                oauth_states::table
                    .find(&id)
                    .filter(oauth_states::consumed_at.is_null())
                    .filter(oauth_states::expires_at.gt(now)),
            )
            .set(oauth_states::consumed_at.eq(now))
            .execute(conn)?;
            if used != 1 {
                return Ok(None);
            }
            oauth_states::table
                .find(&id)
                .select(StateRow::as_select())
                .first(conn)
                .optional()
                .map_err(ApiError::from)
        })
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let key = configured_key(&app.settings).map_err(ApiError::internal)?;
    let verifier = key
        .open(&row.pkce_verifier, &verifier_context(&row.id))
        .map_err(|e| ApiError::internal(format!("a PKCE verifier cannot be opened: {e}")))?;
    let verifier =
        String::from_utf8(verifier.expose_secret().to_vec()).map_err(ApiError::internal)?;
    Ok(Some((row, verifier)))
}

/// Deletes expired authorization requests every minute.
pub async fn prune(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticker.tick().await;
        let pruned = pool(&state)
            .run("oauth.states.prune", |conn| {
                diesel::delete(oauth_states::table.filter(oauth_states::expires_at.lt(now_ms())))
                    .execute(conn)
                    .map_err(ApiError::from)
            })
            .await;
        match pruned {
            Ok(rows) => metrics::counter!("steward_job_rows_total", "job" => "oauth_prune")
                .increment(rows as u64),
            Err(error) => tracing::warn!(%error, "pruning OAuth states failed; retrying later"),
        }
    }
}
