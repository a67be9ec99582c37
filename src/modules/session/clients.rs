//! Clerk's Backend API `client` object, and the session tables' part of
//! the Frontend API's client and session objects (`crate::fapi` composes
//! them with each session's user and the current sign-in and sign-up).

use serde_json::Value;

use super::model::{minutes_since, ClientRow, SessionObject, SessionRow};
use super::service::pool;
use super::store;
use crate::crypto::ids::{self, prefix};
use crate::db::DbConnection;
use crate::http::{ApiError, Pagination};
use crate::state::AppState;
use crate::time::now_ms;

/// A live client and its sessions still active at `now`, read on a
/// connection the caller holds: for a unit of work that also reads other
/// modules' tables in the session database (the caller checks that they
/// are there). Endings this process spooled are not applied here; the
/// caller applies them with [`crate::modules::session::SessionWrites::overlay`].
pub fn live_client_on(
    conn: &mut DbConnection,
    client_id: &str,
    now: i64,
) -> Result<Option<(ClientRow, Vec<SessionRow>)>, ApiError> {
    let Some(client) = store::find_live_client(conn, client_id)? else {
        return Ok(None);
    };
    let sessions = store::sessions_of_client(conn, &client.id)?
        .into_iter()
        .filter(|row| row.is_active(now))
        .collect();
    Ok(Some((client, sessions)))
}

/// A session as the Frontend API shows it, without its user (which
/// `crate::fapi` adds).
pub fn frontend_session_object(row: &SessionRow, now: i64) -> SessionObject {
    let mut object = SessionObject::from_row(row, now);
    object.factor_verification_age = Some([minutes_since(row.first_factor_verified_at, now), -1]);
    object
}

/// Clerk's Backend API `client` object.
pub fn backend_client_object(client: &ClientRow, sessions: &[SessionRow], now: i64) -> Value {
    let objects: Vec<SessionObject> = sessions
        .iter()
        .map(|s| SessionObject::from_row(s, now))
        .collect();
    serde_json::json!({
        "object": "client",
        "id": client.id,
        "session_ids": sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        "sessions": objects,
        "sign_in_id": client.sign_in_id,
        "sign_up_id": client.sign_up_id,
        "last_active_session_id": client.last_active_session_id,
        "last_authentication_strategy": client.last_authentication_strategy,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    })
}

/// A page of clients with their sessions, and the total (Backend API).
pub async fn list_clients(
    state: &AppState,
    page: Pagination,
) -> Result<(Vec<Value>, i64), ApiError> {
    pool(state)
        .run("clients.list", move |conn| {
            let now = now_ms();
            let mut objects = Vec::new();
            for client in store::list_clients(conn, page)? {
                let sessions = store::sessions_of_client(conn, &client.id)?;
                objects.push(backend_client_object(&client, &sessions, now));
            }
            Ok::<_, ApiError>((objects, store::count_clients(conn)?))
        })
        .await
}

/// One client with its sessions (Backend API).
pub async fn get_backend_client(state: &AppState, client_id: String) -> Result<Value, ApiError> {
    if !ids::has_shape(&client_id, prefix::CLIENT) {
        return Err(ApiError::not_found("client"));
    }
    pool(state)
        .run("clients.get_backend", move |conn| {
            let client = store::find_client(conn, &client_id)?
                .ok_or_else(|| ApiError::not_found("client"))?;
            let sessions = store::sessions_of_client(conn, &client.id)?;
            Ok(backend_client_object(&client, &sessions, now_ms()))
        })
        .await
}
