//! Clerk's `client` objects (Frontend and Backend API forms) and the
//! Frontend API session object, composed from the session tables and the
//! users service.

use serde_json::Value;

use super::model::{minutes_since, ClientObject, ClientRow, SessionObject, SessionRow};
use super::service::{client_sessions, find_client, pool};
use super::store;
use crate::crypto::ids::{self, prefix};
use crate::http::{ApiError, Pagination};
use crate::modules::users::{self, service::UserObject};
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// A live client and its active sessions as the Frontend API shows them,
/// each with its user; `None` for an unknown or ended client.
///
/// When the session and users tables share a database (the default) this
/// is one unit of work on one connection: `GET /v1/client` runs on every
/// page load, and a blocking-pool trip per read (client, sessions, each
/// user) cost more than the reads. With either module on a database of its
/// own, each is read from its own.
pub async fn client_with_sessions(
    state: &AppState,
    client_id: String,
) -> Result<Option<(ClientRow, Vec<SessionObject>)>, ApiError> {
    let now = now_ms();
    if state.db.has_own_database(Module::Session) || state.db.has_own_database(Module::Users) {
        let Some(client) = find_client(state, Some(client_id)).await? else {
            return Ok(None);
        };
        let mut sessions = Vec::new();
        for row in client_sessions(state, client.id.clone()).await? {
            if row.is_active(now) {
                sessions.push(frontend_session(state, &row, now).await?);
            }
        }
        return Ok(Some((client, sessions)));
    }
    let read = state
        .db
        .read_with_failover::<_, ApiError, _>(
            Module::Session,
            "clients.get_with_sessions",
            move |conn| {
                let Some(client) = store::find_live_client(conn, &client_id)? else {
                    return Ok(None);
                };
                let mut sessions = Vec::new();
                for row in store::sessions_of_client(conn, &client.id)? {
                    if row.is_active(now) {
                        let user = users::service::frontend_user_on(conn, &row.user_id)?;
                        sessions.push((row, user));
                    }
                }
                Ok(Some((client, sessions)))
            },
        )
        .await?;
    let Some((client, rows)) = read else {
        return Ok(None);
    };
    // Endings this process knows of but the database may not have yet;
    // they only ever end sessions, so filtering before them lost nothing.
    let sessions = rows
        .into_iter()
        .filter_map(|(mut row, user)| {
            state.session_writes.overlay(&mut row);
            row.is_active(now)
                .then(|| frontend_session_object(&row, user, now))
        })
        .collect();
    Ok(Some((client, sessions)))
}

/// Clerk's Frontend API `client` object (see [`ClientObject`]).
pub fn client_object(
    client: ClientRow,
    sessions: Vec<SessionObject>,
    sign_in: Option<Value>,
    sign_up: Option<Value>,
) -> ClientObject {
    ClientObject {
        object: "client",
        id: client.id,
        sessions,
        sign_in,
        sign_up,
        last_active_session_id: client.last_active_session_id,
        last_authentication_strategy: client.last_authentication_strategy,
        cookie_expires_at: None,
        captcha_bypass: false,
        created_at: client.created_at,
        updated_at: client.updated_at,
    }
}

/// A session as the Frontend API shows it: with its user and public data.
pub async fn frontend_session(
    state: &AppState,
    row: &SessionRow,
    now: i64,
) -> Result<SessionObject, ApiError> {
    let user = users::service::frontend_user(state, row.user_id.clone()).await?;
    Ok(frontend_session_object(row, user, now))
}

fn frontend_session_object(row: &SessionRow, user: Option<UserObject>, now: i64) -> SessionObject {
    let mut object = SessionObject::from_row(row, now);
    object.factor_verification_age = Some([minutes_since(row.first_factor_verified_at, now), -1]);
    if let Some(user) = user {
        object.public_user_data = Some(users::service::PublicUserData::of(&user));
        object.user = Some(user);
    }
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
