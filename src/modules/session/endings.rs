//! How sessions end: sign-out, `end`, `remove`, Backend API `revoke`, and
//! the bulk endings of the users module (ban, deletion, sign out of other
//! sessions).
//! A single ending is an append-only event that goes to the outage spool
//! when the database is unreachable; see [`super::writes`].

use super::model::status;
use super::model::SessionRow;
use super::service::{client_sessions, pool, session_for_change};
use super::store;
use super::writes::{self, SessionWrite};
use crate::crypto::ids::{new_id, prefix};
use crate::db::{write_transaction, Transient};
use crate::http::ApiError;
use crate::ids::{ClientId, SessionId, UserId};
use crate::state::AppState;
use crate::time::now_ms;

/// Ends (`end`), removes (`remove`) or revokes (`revoke`) a session. The
/// ending is an append-only event, spooled while the database is
/// unreachable; either way the session gets no token from this moment.
pub async fn finish(
    state: &AppState,
    client_id: Option<String>,
    session_id: String,
    new_status: &'static str,
) -> Result<SessionRow, ApiError> {
    let mut session = session_for_change(state, client_id.as_deref(), &session_id).await?;
    if session.status != status::ACTIVE {
        return Ok(session);
    }
    let now = now_ms();
    end_session(state, &session.id, new_status, now).await?;
    session.status = new_status.to_owned();
    session.ended_at = Some(now);
    session.updated_at = now;
    Ok(session)
}

/// Records the ending of an active session and drops its cached tokens.
pub(super) async fn end_session(
    state: &AppState,
    session_id: &str,
    new_status: &'static str,
    now: i64,
) -> Result<(), ApiError> {
    writes::record(
        state,
        SessionWrite::Finished {
            id: new_id(prefix::SESSION_EVENT),
            session_id: session_id.to_owned(),
            status: new_status.to_owned(),
            at: now,
        },
    )
    .await?;
    state.tokens.forget_session(session_id);
    Ok(())
}

/// Signs the client out of every session (`DELETE /v1/client/sessions`), or
/// also ends the client itself (`DELETE /v1/client`). The endings are
/// spooled while the database is unreachable; the client row's own reset
/// (its sign-in and sign-up attempts, `ended_at`) is then skipped, since a
/// client without active sessions is signed out either way.
pub async fn sign_out_client(
    state: &AppState,
    client_id: String,
    end_client: bool,
) -> Result<(), ApiError> {
    let now = now_ms();
    for mut session in client_sessions(state, ClientId::from(client_id.clone())).await? {
        state.session_writes.overlay(&mut session);
        if session.status == status::ACTIVE {
            end_session(state, &session.id, status::ENDED, now).await?;
        }
    }
    let reset = pool(state)
        .run("clients.sign_out", move |conn| {
            if let Some(mut client) = store::find_client(conn, &client_id)? {
                client.last_active_session_id = None;
                client.sign_in_id = None;
                client.sign_up_id = None;
                if end_client {
                    client.ended_at = Some(now);
                }
                client.updated_at = now;
                store::save_client(conn, &client)?;
            }
            Ok::<_, ApiError>(())
        })
        .await;
    match reset {
        Err(error) if error.is_transient() => {
            tracing::warn!("client reset after sign-out skipped: database unreachable");
            Ok(())
        }
        other => other,
    }
}

/// Revokes every active session of a user (ban, Backend API).
pub async fn end_user_sessions(state: &AppState, user_id: UserId) -> Result<(), ApiError> {
    let user_id = String::from(user_id);
    let ended = pool(state)
        .run("sessions.revoke_user", move |conn| {
            write_transaction(conn, |conn| {
                store::end_user_sessions(conn, &user_id, status::REVOKED, now_ms())
                    .map_err(ApiError::from)
            })
        })
        .await?;
    for id in ended {
        state.tokens.forget_session(&id);
    }
    Ok(())
}

/// Removes every session of a user who is being deleted, and records the
/// deletion in the session tables so that no session of theirs starts
/// afterwards: a sign-in that read the user just before the deletion and
/// asks for its session just after is refused ([`super::service::create_session`]
/// checks the record under the same per-user lock). The users module calls
/// this before it deletes the user, so no moment exists when the user is
/// gone and a session of theirs is active. This process drops the cached
/// tokens at once; another process may hand out a token it already
/// holds until its reuse window (`session.token_reuse_seconds`) ends.
pub async fn end_deleted_user_sessions(state: &AppState, user_id: UserId) -> Result<(), ApiError> {
    let user_id = String::from(user_id);
    let forget = user_id.clone();
    pool(state)
        .run("sessions.remove_deleted_user", move |conn| {
            write_transaction(conn, |conn| {
                store::lock_user_sessions(conn, &user_id)?;
                store::delete_user_sessions(conn, &user_id, now_ms()).map_err(ApiError::from)
            })
        })
        .await?;
    state.tokens.forget_user(&forget);
    Ok(())
}

/// Ends every active session of a user except `keep` (password change
/// with `sign_out_of_other_sessions`).
pub async fn end_other_sessions(
    state: &AppState,
    user_id: UserId,
    keep: SessionId,
) -> Result<(), ApiError> {
    let (user_id, keep) = (String::from(user_id), String::from(keep));
    let ended = pool(state)
        .run("sessions.end_others", move |conn| {
            let now = now_ms();
            let ids = write_transaction(conn, |conn| {
                store::end_user_sessions_except(conn, &user_id, &keep, status::ENDED, now)
            })?;
            Ok::<_, ApiError>(ids)
        })
        .await?;
    for id in ended {
        state.tokens.forget_session(&id);
    }
    Ok(())
}
