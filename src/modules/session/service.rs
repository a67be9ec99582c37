//! Clients, sessions and tokens. The sign-in and sign-up modules create
//! sessions through [`create_session`]; the users module ends them through
//! [`end_user_sessions`] and [`end_deleted_user_sessions`]; `crate::fapi`
//! reads clients, sessions and their users for the Frontend API's objects;
//! the orgs and users areas push what the session area keeps a copy of
//! (organization claims, the users its clients show) through the outbox,
//! to [`ORGANIZATION_CLAIMS`] and [`CLIENT_USERS`]; nothing else touches
//! the session tables.

use super::claims;
pub(super) use super::claims::snapshot_for_switch;
pub use super::claims::{
    OrganizationClaims, MEMBERSHIP_CONTRIBUTOR, ORGANIZATION_CLAIMS, ORGANIZATION_CLAIMS_TOPIC,
};
pub use super::client_users::{
    client_user_on, ClientUser, ShownUser, CLIENT_USERS, CLIENT_USERS_TOPIC,
};
pub use super::clients::{
    backend_client_object, frontend_session_object, get_backend_client, list_clients,
    live_client_on,
};
pub use super::endings::{
    end_deleted_user_sessions, end_other_sessions, end_user_sessions, finish, sign_out_client,
};
pub use super::model::{status, ClientRow, SessionObject, SessionRow};
pub(super) use super::refresh::is_active_now;
pub use super::refresh::session_token;
pub use super::scope_claims::{ScopeClaims, SCOPE_CLAIMS, SCOPE_CLAIMS_TOPIC};
use super::store::{self, SessionFilter};
use super::writes::{self, SessionWrite};
use crate::crypto::ids::{self, new_id, prefix};
use crate::db::{write_transaction, DbConnection, DbPool};
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::ids::{ClientId, OrganizationId, SessionId, SignInId, SignUpId, UserId};
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

pub(super) fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Session).clone()
}

pub(super) fn duration_ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

pub(super) fn signed_out() -> ApiError {
    ApiError::new(
        ErrorCode::SignedOut,
        "Signed out",
        "This session has ended or does not belong to this client.",
    )
}

/// The client with this id, if it exists and has not ended.
pub async fn find_client(
    state: &AppState,
    client_id: Option<ClientId>,
) -> Result<Option<ClientRow>, ApiError> {
    let Some(id) = client_id.map(String::from) else {
        return Ok(None);
    };
    state
        .db
        .read_with_failover(Module::Session, "clients.get", move |conn| {
            store::find_live_client(conn, &id).map_err(ApiError::from)
        })
        .await
}

/// The caller's client. A caller without one (or whose token names no live
/// client) gets a new client that is saved only with the first attempt or
/// session recorded on it ([`set_client_attempt`], [`create_session`]): a
/// refused request leaves no row behind, and requests without a client
/// cannot fill the clients table by failing.
pub async fn ensure_client(
    state: &AppState,
    client_id: Option<ClientId>,
) -> Result<ClientRow, ApiError> {
    if let Some(client) = find_client(state, client_id).await? {
        return Ok(client);
    }
    Ok(unsaved_client(new_id(prefix::CLIENT), now_ms()))
}

/// A client that is not saved yet.
fn unsaved_client(id: String, now: i64) -> ClientRow {
    ClientRow {
        id,
        sign_in_id: None,
        sign_up_id: None,
        last_active_session_id: None,
        last_authentication_strategy: None,
        ended_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// The client `id` for a change, and whether it is saved already: a client
/// from [`ensure_client`] is saved by the first change made to it.
fn client_for_change(
    conn: &mut DbConnection,
    id: &str,
    now: i64,
) -> diesel::QueryResult<(ClientRow, bool)> {
    Ok(match store::find_client(conn, id)? {
        Some(client) => (client, true),
        None => (unsaved_client(id.to_owned(), now), false),
    })
}

/// Saves a client [`client_for_change`] gave.
fn save_changed_client(
    conn: &mut DbConnection,
    client: &ClientRow,
    saved: bool,
) -> diesel::QueryResult<()> {
    if saved {
        store::save_client(conn, client)
    } else {
        store::insert_client(conn, client)
    }
}

/// Records the client's current sign-in or sign-up attempt.
pub async fn set_client_attempt(
    state: &AppState,
    client_id: ClientId,
    sign_in_id: Option<SignInId>,
    sign_up_id: Option<SignUpId>,
) -> Result<(), ApiError> {
    let client_id = String::from(client_id);
    let sign_in_id = sign_in_id.map(String::from);
    let sign_up_id = sign_up_id.map(String::from);
    pool(state)
        .run("clients.set_attempt", move |conn| {
            let (sign_in_id, sign_up_id) = (sign_in_id.clone(), sign_up_id.clone());
            let now = now_ms();
            let (mut client, saved) = client_for_change(conn, &client_id, now)?;
            client.sign_in_id = sign_in_id;
            client.sign_up_id = sign_up_id;
            client.updated_at = now;
            save_changed_client(conn, &client, saved)?;
            Ok::<_, ApiError>(())
        })
        .await
}

/// Starts a session for `user_id` on the client, after a completed sign-in
/// or sign-up by `strategy` (`None` for sessions the Backend API creates).
/// In single-session mode the client's active sessions are replaced. The
/// strategy becomes the client's last authentication strategy (the areas
/// that sign in record it on the user). 404 for a user deleted since the
/// caller read them.
pub async fn create_session(
    state: &AppState,
    client_id: ClientId,
    user_id: UserId,
    strategy: Option<&str>,
) -> Result<SessionRow, ApiError> {
    let strategy = strategy.map(str::to_owned);
    let settings = &state.settings.session;
    let now = now_ms();
    let row = SessionRow {
        id: new_id(prefix::SESSION),
        client_id: client_id.into(),
        user_id: user_id.into(),
        status: status::ACTIVE.to_owned(),
        last_active_organization_id: None,
        claims_snapshot: "{}".to_owned(),
        first_factor_verified_at: now,
        last_active_at: now,
        expire_at: now + duration_ms(settings.lifetime),
        abandon_at: now + duration_ms(settings.inactivity_timeout),
        ended_at: None,
        created_at: now,
        updated_at: now,
    };
    let multi_session = settings.multi_session;
    let (session, replaced) = pool(state)
        .run("sessions.create", move |conn| {
            let row = row.clone();
            write_transaction(conn, |conn| {
                // A user deleted since the caller read them gets no session
                // (see `end_deleted_user_sessions`).
                store::lock_user_sessions(conn, &row.user_id)?;
                if store::is_deleted_user(conn, &row.user_id)? {
                    return Err(ApiError::not_found("user"));
                }
                // The user's own claims (their plan) from the start.
                let mut row = row;
                if let Some(snapshot) = super::scope_claims::compose(conn, &row.user_id, None)? {
                    row.claims_snapshot = snapshot.to_string();
                }
                let (mut client, saved) = client_for_change(conn, &row.client_id, now)?;
                let mut replaced = Vec::new();
                if !multi_session {
                    for mut other in store::sessions_of_client(conn, &client.id)? {
                        if other.status == status::ACTIVE {
                            other.status = status::REPLACED.to_owned();
                            other.ended_at = Some(now);
                            other.updated_at = now;
                            store::save_session(conn, &other)?;
                            replaced.push(other.id);
                        }
                    }
                }
                store::insert_session(conn, &row)?;
                client.last_active_session_id = Some(row.id.clone());
                if let Some(strategy) = &strategy {
                    client.last_authentication_strategy = Some(strategy.clone());
                }
                client.sign_in_id = None;
                client.sign_up_id = None;
                client.updated_at = now;
                save_changed_client(conn, &client, saved)?;
                Ok::<_, ApiError>((row, replaced))
            })
        })
        .await?;
    for id in replaced {
        state.tokens.forget_session(&id);
    }
    Ok(session)
}

/// A session read for a change, through the read failover (the change
/// itself may go to the spool): 404 unless it exists and belongs to
/// `client_id` (when given). Endings spooled by this process are applied.
pub(super) async fn session_for_change(
    state: &AppState,
    client_id: Option<&str>,
    session_id: &str,
) -> Result<SessionRow, ApiError> {
    if !ids::has_shape(session_id, prefix::SESSION) {
        return Err(ApiError::not_found("session"));
    }
    let lookup = session_id.to_owned();
    let mut session = state
        .db
        .read_with_failover(Module::Session, "sessions.get_for_change", move |conn| {
            store::find_session(conn, &lookup).map_err(ApiError::from)
        })
        .await?
        .filter(|s| client_id.is_none_or(|c| c == s.client_id))
        .ok_or_else(|| ApiError::not_found("session"))?;
    state.session_writes.overlay(&mut session);
    Ok(session)
}

/// Loads the session, checks it belongs to `client_id` (when given), applies
/// `change` and saves it.
pub(super) async fn change_session<F>(
    state: &AppState,
    query: &'static str,
    client_id: Option<String>,
    session_id: String,
    change: F,
) -> Result<SessionRow, ApiError>
where
    F: Fn(&mut DbConnection, &mut SessionRow, i64) -> Result<(), ApiError> + Send + Sync + 'static,
{
    if !ids::has_shape(&session_id, prefix::SESSION) {
        return Err(ApiError::not_found("session"));
    }
    let session = pool(state)
        .run(query, move |conn| {
            let client_id = client_id.clone();
            write_transaction(conn, |conn| {
                let mut session = store::find_session(conn, &session_id)?
                    .ok_or_else(|| ApiError::not_found("session"))?;
                if client_id.is_some_and(|c| c != session.client_id) {
                    return Err(ApiError::not_found("session"));
                }
                let now = now_ms();
                change(conn, &mut session, now)?;
                session.updated_at = now;
                store::save_session(conn, &session)?;
                Ok(session)
            })
        })
        .await?;
    // Whatever changed, tokens signed before it must not be reused.
    state.tokens.forget_session(&session.id);
    Ok(session)
}

/// The id of the organization `org_id` (id or slug) names, for making it
/// active (`None` or empty: the personal workspace), from the session
/// area's own copy of the claims (see [`super::claims`]); the snapshot is
/// read again in the switching transaction ([`snapshot_for_switch`]). 404
/// unless the user is a member.
pub(super) async fn organization_to_activate(
    state: &AppState,
    user_id: &str,
    org_id: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(id) = org_id.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    let (user_id, id) = (user_id.to_owned(), id.to_owned());
    let found = state
        .db
        .read_with_failover(Module::Session, "sessions.org_claims", move |conn| {
            claims::organization_claims(conn, &user_id, &id).map_err(ApiError::from)
        })
        .await?;
    match found {
        Some((org_id, _)) => Ok(Some(org_id)),
        None => Err(ApiError::not_found("organization").with_param("organization_id")),
    }
}

/// `/touch`: records activity (an insert into `session_activity`, spooled
/// while the database is unreachable) and, when `active_organization` is
/// given, makes that organization (id or slug) active, or the personal
/// workspace for `Some(None)`.
pub async fn touch(
    state: &AppState,
    client_id: ClientId,
    session_id: SessionId,
    active_organization: Option<Option<OrganizationId>>,
) -> Result<SessionRow, ApiError> {
    let (client_id, session_id) = (String::from(client_id), String::from(session_id));
    let mut session = session_for_change(state, Some(&client_id), &session_id).await?;
    let now = now_ms();
    if !is_active_now(state, &session, now).await? {
        return Err(signed_out());
    }
    if let Some(wanted) = active_organization {
        let wanted = wanted.as_ref().map(OrganizationId::as_str);
        let org_id = organization_to_activate(state, &session.user_id, wanted).await?;
        session = change_session(
            state,
            "sessions.set_organization",
            Some(client_id),
            session_id,
            move |conn, session, _now| {
                session.claims_snapshot =
                    claims::snapshot_for_switch(conn, &session.user_id, org_id.as_deref())?;
                session.last_active_organization_id = org_id.clone();
                Ok(())
            },
        )
        .await?;
    }
    writes::record(
        state,
        SessionWrite::Activity {
            id: new_id(prefix::SESSION_ACTIVITY),
            session_id: session.id.clone(),
            at: now,
        },
    )
    .await?;
    // What the compaction job will make of the row.
    session.last_active_at = now;
    let inactivity = duration_ms(state.settings.session.inactivity_timeout);
    session.abandon_at = (now + inactivity).min(session.expire_at.max(now));
    Ok(session)
}

/// The caller's signed-in session: `_clerk_session_id` when given (one of
/// the client's active sessions), otherwise the client's last active one.
/// 401 `signed_out` when there is none.
pub async fn current_session(
    state: &AppState,
    client_id: Option<ClientId>,
    requested: Option<SessionId>,
) -> Result<SessionRow, ApiError> {
    let Some(client) = find_client(state, client_id).await? else {
        return Err(signed_out());
    };
    let Some(session_id) = requested
        .map(String::from)
        .or(client.last_active_session_id)
    else {
        return Err(signed_out());
    };
    let lookup = session_id.clone();
    let session = pool(state)
        .run("sessions.get_current", move |conn| {
            store::find_session(conn, &lookup).map_err(ApiError::from)
        })
        .await?
        .filter(|s| {
            s.client_id == client.id
                && s.is_active(now_ms())
                && !state.session_writes.is_ended(&s.id)
        })
        .ok_or_else(signed_out)?;
    Ok(session)
}

/// A user's active sessions (`/v1/me/sessions/active`), or all of them.
pub async fn user_sessions(
    state: &AppState,
    user_id: UserId,
    active_only: bool,
) -> Result<Vec<SessionRow>, ApiError> {
    let user_id = String::from(user_id);
    let now = now_ms();
    let rows = pool(state)
        .run("sessions.of_user", move |conn| {
            store::sessions_of_user(conn, &user_id).map_err(ApiError::from)
        })
        .await?;
    Ok(rows
        .into_iter()
        .filter(|s| !active_only || s.is_active(now))
        .collect())
}

/// A session by id (Backend API; no client check).
pub async fn get_session(state: &AppState, session_id: SessionId) -> Result<SessionRow, ApiError> {
    let session_id = String::from(session_id);
    if !ids::has_shape(&session_id, prefix::SESSION) {
        return Err(ApiError::not_found("session"));
    }
    pool(state)
        .run("sessions.get", move |conn| {
            store::find_session(conn, &session_id)?.ok_or_else(|| ApiError::not_found("session"))
        })
        .await
}

/// A page of sessions and the total (Backend API).
pub async fn list_sessions(
    state: &AppState,
    filter: SessionFilter,
    page: Pagination,
) -> Result<(Vec<SessionRow>, i64), ApiError> {
    pool(state)
        .run("sessions.list", move |conn| {
            let rows = store::list_sessions(conn, &filter, page)?;
            let total = store::count_sessions(conn, &filter)?;
            Ok::<_, ApiError>((rows, total))
        })
        .await
}

/// The client's sessions, oldest first.
pub async fn client_sessions(
    state: &AppState,
    client_id: ClientId,
) -> Result<Vec<SessionRow>, ApiError> {
    let client_id = String::from(client_id);
    let mut sessions = state
        .db
        .read_with_failover(Module::Session, "sessions.of_client", move |conn| {
            store::sessions_of_client(conn, &client_id).map_err(ApiError::from)
        })
        .await?;
    for session in &mut sessions {
        state.session_writes.overlay(session);
    }
    Ok(sessions)
}

/// Creates a session for a user without a sign-in (Backend API
/// `POST /v1/sessions`), on a new client of its own. The caller has
/// checked that the user exists: the session area knows users only by id
/// (a deleted one is refused here, as in [`create_session`]).
pub async fn create_backend_session(
    state: &AppState,
    user_id: UserId,
) -> Result<SessionRow, ApiError> {
    let client = ensure_client(state, None).await?;
    create_session(state, ClientId::from(client.id), user_id, None).await
}
