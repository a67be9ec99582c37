//! The token path: `POST /v1/client/sessions/{id}/tokens` and the Backend
//! API's `POST /v1/sessions/{id}/tokens`. A reuse hit is answered from
//! memory; otherwise one session read (with replica failover) and, when
//! the request names another organization, a switch.

use super::model::{status, SessionRow, SessionToken};
use super::service::{
    change_session, duration_ms, organization_to_activate, signed_out, snapshot_for_switch,
};
use super::store;
use super::token::TokenRequest;
use super::writes::{self, SessionWrite};
use crate::crypto::ids::{self, prefix};
use crate::http::ApiError;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// A token for the caller's session. Errors: 404 for an unknown session,
/// 401 `signed_out` for another client's or an inactive session.
pub async fn session_token(
    state: &AppState,
    client_id: Option<&str>,
    session_id: String,
    origin: Option<String>,
    lifetime_secs: Option<i64>,
    organization_id: Option<String>,
) -> Result<SessionToken, ApiError> {
    if !ids::has_shape(&session_id, prefix::SESSION) {
        return Err(ApiError::not_found("session"));
    }
    let request = TokenRequest {
        session_id: session_id.clone(),
        origin,
        lifetime_secs,
    };
    // The hot path: the same token again, from memory.
    if !state.session_writes.is_ended(&session_id) {
        if let Some(reused) =
            state
                .tokens
                .reuse(&request, client_id, organization_id.as_deref(), now_ms())
        {
            return Ok(reused);
        }
    }
    let session = state
        .token_reads
        .find(session_id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    let now = now_ms();
    if client_id.is_some_and(|c| c != session.client_id)
        || !is_active_now(state, &session, now).await?
    {
        return Err(signed_out());
    }
    let session = match organization_id {
        Some(wanted) => switch_organization(state, session, wanted).await?,
        None => session,
    };
    let minted = state
        .tokens
        .token(&state.instance, &session, request, now)
        .map_err(ApiError::internal)?;
    if let Some(jti) = &minted.jti {
        writes::record_issuance(
            state,
            SessionWrite::TokenIssued {
                id: jti.clone(),
                session_id: session.id.clone(),
                kid: minted.kid.clone(),
                issued_at: now,
                expires_at: minted.expires_at_ms,
            },
        );
    }
    if lifetime_secs.is_some_and(|secs| secs > state.tokens.lifetime_secs()) {
        // A long-lived token: keep its key published until it expires,
        // even if the key is rotated out before then.
        let (pool, kid, until) = (
            state.db.primary().clone(),
            minted.kid.clone(),
            minted.expires_at_ms,
        );
        tokio::task::spawn_blocking(move || {
            crate::instance::keep_key_published(&pool, &kid, until)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    }
    Ok(minted.token)
}

/// Whether the session may get a token now. The row's `abandon_at` is
/// compacted from `session_activity` in the background, so a session that
/// looks abandoned is checked against its latest activity before it is
/// refused; one ended through the spool is refused even if its row (not yet
/// replayed) says active.
pub(super) async fn is_active_now(
    state: &AppState,
    session: &SessionRow,
    now: i64,
) -> Result<bool, ApiError> {
    if state.session_writes.is_ended(&session.id) {
        return Ok(false);
    }
    if session.is_active(now) {
        return Ok(true);
    }
    let looks_abandoned =
        session.status == status::ACTIVE && session.expire_at > now && session.abandon_at <= now;
    if !looks_abandoned {
        return Ok(false);
    }
    let id = session.id.clone();
    let latest = state
        .db
        .read_with_failover(Module::Session, "sessions.latest_activity", move |conn| {
            store::latest_activity(conn, &id).map_err(ApiError::from)
        })
        .await?;
    let inactivity = duration_ms(state.settings.session.inactivity_timeout);
    Ok(latest.is_some_and(|at| at + inactivity > now))
}

/// Switches the active organization when a token request names another
/// one than the session's (Clerk's SDKs send the active one every time, so
/// the usual case is a comparison on the row already read, with no query).
async fn switch_organization(
    state: &AppState,
    session: SessionRow,
    organization_id: String,
) -> Result<SessionRow, ApiError> {
    let wanted = (!organization_id.is_empty()).then_some(organization_id.as_str());
    let current = session.last_active_organization_id.clone();
    if wanted == current.as_deref() {
        return Ok(session);
    }
    let org_id = organization_to_activate(state, &session.user_id, wanted).await?;
    if org_id == current {
        return Ok(session);
    }
    change_session(
        state,
        "sessions.set_organization",
        Some(session.client_id.clone()),
        session.id.clone(),
        move |conn, session, _now| {
            session.claims_snapshot =
                snapshot_for_switch(conn, &session.user_id, org_id.as_deref())?;
            session.last_active_organization_id = org_id.clone();
            Ok(())
        },
    )
    .await
}
