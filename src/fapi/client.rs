//! Clerk's Frontend API `client` and `session` objects, and the response
//! envelope that carries the client.

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::session_user;
use crate::http::fapi::{reply, FapiCaller};
use crate::http::ApiError;
use crate::ids::{ClientId, SignInId, SignUpId};
use crate::modules::session::service::{
    self as sessions, frontend_session_object, ClientRow, SessionObject, SessionRow, ShownUser,
};
use crate::modules::{signin, signup, Module};
use crate::state::AppState;
use crate::time::now_ms;

/// Clerk's Frontend API `client` object: the client with its active
/// sessions (each with its user) and its current sign-in / sign-up. Typed,
/// so the response is written straight from it: `GET /v1/client` runs on
/// every page load, and building it as a `serde_json::Value` tree (then
/// cloning and dropping it) was most of that request's cost.
#[derive(Debug, Clone, Serialize)]
struct ClientObject {
    pub object: &'static str,
    pub id: String,
    pub sessions: Vec<FrontendSession>,
    pub sign_in: Option<Value>,
    pub sign_up: Option<Value>,
    pub last_active_session_id: Option<String>,
    pub last_authentication_strategy: Option<String>,
    pub cookie_expires_at: Option<i64>,
    pub captcha_bypass: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's Frontend API `session` object: the session module's object with
/// its user (without private metadata) and the user's public data.
#[derive(Debug, Clone, Serialize)]
pub struct FrontendSession {
    #[serde(flatten)]
    pub session: SessionObject,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_user_data: Option<Box<RawValue>>,
}

impl FrontendSession {
    /// `user`: the user object and the public user data ([`session_user`]).
    fn new(row: &SessionRow, user: Option<ShownUser>, now: i64) -> Self {
        let (user, public_user_data) = user.unzip();
        Self {
            session: frontend_session_object(row, now),
            user,
            public_user_data,
        }
    }
}

/// A session as the Frontend API shows it: with its user and public data.
pub async fn frontend_session(
    state: &AppState,
    row: &SessionRow,
    now: i64,
) -> Result<FrontendSession, ApiError> {
    let user = session_user::read(state, row.user_id.clone(), now).await?;
    Ok(FrontendSession::new(row, user, now))
}

/// A live client and its active sessions as the Frontend API shows them,
/// each with its user; `None` for an unknown or ended client. One unit of
/// work on the session database.
async fn client_with_sessions(
    state: &AppState,
    client_id: String,
) -> Result<Option<(ClientRow, Vec<FrontendSession>)>, ApiError> {
    let now = now_ms();
    let read = state
        .db
        .read_with_failover::<_, ApiError, _>(
            Module::Session,
            "clients.get_with_sessions",
            move |conn| {
                let Some((client, rows)) = sessions::live_client_on(conn, &client_id, now)? else {
                    return Ok(None);
                };
                let mut with_users = Vec::with_capacity(rows.len());
                for row in rows {
                    let user = session_user::read_on(conn, &row.user_id, now)?;
                    with_users.push((row, user));
                }
                Ok(Some((client, with_users)))
            },
        )
        .await?;
    let Some((client, rows)) = read else {
        return Ok(None);
    };
    // Endings this process knows of but the database may not have yet;
    // they only ever end sessions, so filtering before them lost nothing.
    let objects = rows
        .into_iter()
        .filter_map(|(mut row, user)| {
            state.session_writes.overlay(&mut row);
            row.is_active(now)
                .then(|| FrontendSession::new(&row, user, now))
        })
        .collect();
    Ok(Some((client, objects)))
}

/// The client object for `client_id`, with its current sign-in and
/// sign-up, written out as JSON once: the envelope may carry it twice.
pub(super) async fn client_json(
    state: &AppState,
    client_id: &str,
) -> Result<Option<Box<RawValue>>, ApiError> {
    let Some((client, sessions)) = client_with_sessions(state, client_id.to_owned()).await? else {
        return Ok(None);
    };
    let typed_client_id = ClientId::from(client.id.clone());
    let sign_in = if state.settings.modules.is_enabled(Module::Signin) {
        let sign_in_id = client.sign_in_id.clone().map(SignInId::from);
        signin::service::current_object(state, &typed_client_id, sign_in_id).await?
    } else {
        None
    };
    let sign_up = if state.settings.modules.is_enabled(Module::Signup) {
        let sign_up_id = client.sign_up_id.clone().map(SignUpId::from);
        signup::service::current_object(state, &typed_client_id, sign_up_id).await?
    } else {
        None
    };
    let object = ClientObject {
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
    };
    serde_json::value::to_raw_value(&object)
        .map(Some)
        .map_err(ApiError::internal)
}

/// `{response, client}` for the caller's client, with its token attached.
pub async fn envelope<R: Serialize>(
    state: &AppState,
    caller: &FapiCaller,
    response: R,
    client_id: &str,
) -> Result<HttpResponse, ApiError> {
    let client = client_json(state, client_id).await?;
    Ok(reply(
        state,
        caller,
        &response,
        Some(client_id),
        client.as_deref(),
    ))
}
