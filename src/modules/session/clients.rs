//! Clerk's `client` objects (Frontend and Backend API forms) and the
//! Frontend API session object, composed from the session tables and the
//! users service.

use serde_json::Value;

use super::model::{ClientObject, ClientRow, SessionObject, SessionRow};
use super::service::{client_sessions, pool};
use super::store;
use crate::crypto::ids::{self, prefix};
use crate::http::{ApiError, Pagination};
use crate::modules::users;
use crate::state::AppState;
use crate::time::now_ms;

/// Clerk's Frontend API `client` object (see [`ClientObject`]).
pub async fn client_object(
    state: &AppState,
    client: &ClientRow,
    sign_in: Option<Value>,
    sign_up: Option<Value>,
) -> Result<ClientObject, ApiError> {
    let now = now_ms();
    let mut sessions = Vec::new();
    for row in client_sessions(state, client.id.clone()).await? {
        if row.is_active(now) {
            sessions.push(frontend_session(state, &row, now).await?);
        }
    }
    Ok(ClientObject {
        object: "client",
        id: client.id.clone(),
        sessions,
        sign_in,
        sign_up,
        last_active_session_id: client.last_active_session_id.clone(),
        last_authentication_strategy: client.last_authentication_strategy.clone(),
        cookie_expires_at: None,
        captcha_bypass: false,
        created_at: client.created_at,
        updated_at: client.updated_at,
    })
}

/// A session as the Frontend API shows it: with its user and public data.
pub async fn frontend_session(
    state: &AppState,
    row: &SessionRow,
    now: i64,
) -> Result<SessionObject, ApiError> {
    let mut object = SessionObject::from_row(row, now);
    if let Some(user) = users::service::frontend_user_object(state, row.user_id.clone()).await? {
        object.public_user_data = Some(users::service::PublicUserData::of(&user));
        object.user = Some(user);
    }
    Ok(object)
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
