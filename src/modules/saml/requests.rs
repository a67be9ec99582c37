//! Starting an SSO sign-in: the connection is picked by the email's
//! domain (or by id), an AuthnRequest is recorded as outstanding and the
//! browser is sent to the IdP with it. The IdP's answer names the request
//! (`InResponseTo`, and the RelayState, which is the same random id), and
//! the ACS uses it up exactly once.

use std::sync::Arc;

use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use rand::RngCore;

use super::authn_request::{self, RequestParams};
use super::connections;
use super::model::{Connection, SpEndpoints};
use super::schema::{saml_requests, saml_used_assertions};
use super::{pool, SamlState};
use crate::db::{on_backend, write_transaction, DbConnection};
use crate::http::ApiError;
use crate::modules::external_sign_in::{ExternalSignIn, StartRequest, Started};
use crate::state::AppState;
use crate::time::now_ms;

/// The provider of `enterprise_sso` and its older name `saml`.
pub static ENTERPRISE_SSO: EnterpriseSso = EnterpriseSso;

/// See [`ENTERPRISE_SSO`].
#[derive(Debug)]
pub struct EnterpriseSso;

impl ExternalSignIn for EnterpriseSso {
    fn serves(&self, _settings: &crate::config::Settings, strategy: &str) -> bool {
        matches!(strategy, "enterprise_sso" | "saml")
    }

    fn start<'a>(
        &'a self,
        state: &'a AppState,
        request: StartRequest,
    ) -> LocalBoxFuture<'a, Result<Started, ApiError>> {
        Box::pin(start(state, request))
    }
}

/// An outstanding AuthnRequest (`saml_requests`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = saml_requests)]
pub struct RequestRow {
    pub id: String,
    pub connection_id: String,
    pub sign_in_id: String,
    pub client_id: String,
    pub strategy: String,
    pub redirect_url: String,
    pub native: bool,
    pub force_authn: bool,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub created_at: i64,
}

/// A fresh request id: 160 random bits, as an XML NCName.
fn new_request_id() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("_{hex}")
}

/// No connection for what was given.
fn no_connection(param: &str) -> ApiError {
    ApiError::new(
        crate::http::ErrorCode::FormIdentifierNotFound,
        "No SSO connection",
        "No active enterprise SSO connection serves this email address's domain.",
    )
    .with_param(param)
}

async fn pick_connection(state: &AppState, request: &StartRequest) -> Result<Connection, ApiError> {
    if let Some(id) = request.connection_id.clone().filter(|id| !id.is_empty()) {
        let connection = connections::find(state, id)
            .await
            .map_err(|_| no_connection("enterprise_connection_id"))?;
        if !connection.is_usable() {
            return Err(no_connection("enterprise_connection_id"));
        }
        if let Some(email) = &request.identifier {
            if !connections::serves_email(&connection, email) {
                return Err(no_connection("identifier"));
            }
        }
        return Ok(connection);
    }
    let email = request
        .identifier
        .as_deref()
        .filter(|i| i.contains('@'))
        .ok_or_else(|| ApiError::param_missing("identifier"))?;
    connections::for_email(state, email)
        .await?
        .ok_or_else(|| no_connection("identifier"))
}

async fn start(state: &AppState, request: StartRequest) -> Result<Started, ApiError> {
    let saml = SamlState::of(state)?;
    let connection = pick_connection(state, &request).await?;
    let row = &connection.row;
    let (Some(idp_sso_url), true) = (row.idp_sso_url.as_deref(), connection.is_usable()) else {
        return Err(no_connection("identifier"));
    };
    let now = now_ms();
    let id = new_request_id();
    let sp = SpEndpoints::of(&state.public_url, &row.id);
    let key = if saml.settings.sign_authn_requests {
        Some(saml.sp.get(state).await?)
    } else {
        None
    };
    let url = authn_request::redirect_url(
        &RequestParams {
            id: &id,
            sp: &sp,
            idp_sso_url,
            force_authn: row.force_authn,
            relay_state: &id,
        },
        key,
    )?;
    let expire_at = now + saml.settings.request_ttl_seconds * 1000;
    let outstanding = RequestRow {
        id,
        connection_id: row.id.clone(),
        sign_in_id: request.sign_in_id.to_string(),
        client_id: request.client_id.to_string(),
        strategy: request.strategy.clone(),
        redirect_url: request.redirect_url.clone(),
        native: request.native,
        force_authn: row.force_authn,
        expires_at: expire_at,
        consumed_at: None,
        created_at: now,
    };
    pool(state)
        .run("saml.requests.insert", move |conn| {
            diesel::insert_into(saml_requests::table)
                .values(&outstanding)
                .execute(conn)
                .map(drop)
                .map_err(ApiError::from)
        })
        .await?;
    Ok(Started {
        redirect_url: url,
        expire_at,
        connection_id: row.id.clone(),
        connection_name: row.name.clone(),
    })
}

/// The outstanding request `id` of `connection_id`, if it is one (used or
/// not: the caller decides what a used one means).
pub async fn find(
    state: &AppState,
    connection_id: String,
    id: String,
) -> Result<Option<RequestRow>, ApiError> {
    pool(state)
        .run("saml.requests.get", move |conn| {
            saml_requests::table
                .find(&id)
                .filter(saml_requests::connection_id.eq(&connection_id))
                .select(RequestRow::as_select())
                .first(conn)
                .optional()
                .map_err(ApiError::from)
        })
        .await
}

/// Why an answer cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its request was answered already, or has expired.
    RequestUsed,
    /// Its assertion was seen before.
    Replayed,
}

/// Uses up the request the answer names (when it names one) and records
/// the assertion's id until it expires, in one transaction: of two
/// deliveries of the same answer, exactly one gets through.
pub async fn consume(
    state: &AppState,
    connection_id: String,
    request_id: Option<String>,
    assertion_id: String,
    assertion_expires_at: i64,
) -> Result<Result<(), Refusal>, ApiError> {
    pool(state)
        .run("saml.requests.consume", move |conn| {
            // A refusal rolls the transaction back: nothing is used up.
            let done = write_transaction(conn, |conn| {
                let now = now_ms();
                if let Some(id) = &request_id {
                    let used = diesel::update(
                        saml_requests::table
                            .find(id)
                            .filter(saml_requests::connection_id.eq(&connection_id))
                            .filter(saml_requests::consumed_at.is_null())
                            .filter(saml_requests::expires_at.gt(now)),
                    )
                    .set(saml_requests::consumed_at.eq(now))
                    .execute(conn)?;
                    if used != 1 {
                        return Err(Consumed::Refused(Refusal::RequestUsed));
                    }
                }
                if !record_assertion(conn, &connection_id, &assertion_id, assertion_expires_at)? {
                    return Err(Consumed::Refused(Refusal::Replayed));
                }
                Ok(())
            });
            match done {
                Ok(()) => Ok(Ok(())),
                Err(Consumed::Refused(refusal)) => Ok(Err(refusal)),
                Err(Consumed::Failed(error)) => Err(error),
            }
        })
        .await
}

/// How [`consume`]'s transaction ended, when not with success.
enum Consumed {
    Refused(Refusal),
    Failed(ApiError),
}

impl From<diesel::result::Error> for Consumed {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(ApiError::from(error))
    }
}

/// Records an assertion id; false when it was recorded before.
fn record_assertion(
    conn: &mut DbConnection,
    connection_id: &str,
    assertion_id: &str,
    expires_at: i64,
) -> QueryResult<bool> {
    on_backend!(conn, c => {
        diesel::insert_into(saml_used_assertions::table)
            .values((
                saml_used_assertions::connection_id.eq(connection_id),
                saml_used_assertions::assertion_id.eq(assertion_id),
                saml_used_assertions::expires_at.eq(expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .map(|inserted| inserted == 1)
    })
}

/// Deletes expired requests and the ids of expired assertions, every
/// minute: an expired assertion is refused for its age, so its id is no
/// longer needed to refuse a replay.
pub async fn prune(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticker.tick().await;
        let pruned = pool(&state)
            .run("saml.requests.prune", |conn| {
                let now = now_ms();
                let requests =
                    diesel::delete(saml_requests::table.filter(saml_requests::expires_at.lt(now)))
                        .execute(conn)?;
                let assertions = diesel::delete(
                    saml_used_assertions::table.filter(saml_used_assertions::expires_at.lt(now)),
                )
                .execute(conn)?;
                Ok::<_, ApiError>(requests + assertions)
            })
            .await;
        match pruned {
            Ok(rows) => metrics::counter!("steward_job_rows_total", "job" => "saml_prune")
                .increment(rows as u64),
            Err(error) => tracing::warn!(%error, "pruning SAML requests failed; retrying later"),
        }
    }
}
