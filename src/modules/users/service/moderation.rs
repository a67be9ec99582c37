//! Administrator actions on a whole user: delete, ban and unban, lock and
//! unlock. Deleting, banning or locking also ends the user's sessions when
//! the session module is on.

use super::{load, lockout_ms, modify, pool};
use crate::db::write_transaction;
use crate::http::ApiError;
use crate::ids::UserId;
use crate::modules::users::auth::record_unlock;
use crate::modules::users::model::{DeletedObject, UserObject};
use crate::modules::users::push;
use crate::modules::users::store;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// `DELETE /v1/users/{id}`. The user's sessions end first (404 for an
/// unknown user, before anything changes), then their organization
/// memberships go (see `orgs::service::remove_deleted_user` for why before
/// the user row), then the user row.
pub async fn delete_user(state: &AppState, id: UserId) -> Result<DeletedObject, ApiError> {
    end_sessions_for_deletion(state, &id).await?;
    if state.settings.modules.is_enabled(Module::Orgs) {
        crate::modules::orgs::service::remove_deleted_user(state, id.clone()).await?;
    }
    let deleted = pool(state)
        .run("users.delete", move |conn| {
            write_transaction(conn, |conn| {
                let row = load(conn, id.as_str())?;
                store::delete_user(conn, &row.id)?;
                push::user_changed(conn, &row.id)?;
                Ok::<_, ApiError>(DeletedObject {
                    object: "user",
                    id: row.id,
                    deleted: true,
                })
            })
        })
        .await?;
    push::deliver_soon(state).await;
    Ok(deleted)
}

/// Removes the sessions of the user about to be deleted, for good: the
/// session module records the deletion, so none starts later, not even for
/// a sign-in that read the user before this. It comes before the user row
/// goes, so there is no moment when the user is gone and a session of
/// theirs can get a token. 404 for an unknown user, before anything
/// changes. Should the deletion itself then fail, the user is left without
/// sessions and unable to start one; repeating the request completes it.
async fn end_sessions_for_deletion(state: &AppState, id: &UserId) -> Result<(), ApiError> {
    let lookup = id.clone();
    pool(state)
        .run("users.get_for_delete", move |conn| {
            load(conn, lookup.as_str()).map(drop)
        })
        .await?;
    if state.settings.modules.is_enabled(Module::Session) {
        crate::modules::session::service::end_deleted_user_sessions(state, id.clone()).await?;
    }
    Ok(())
}

/// `POST /v1/users/{id}/ban` and `/unban`.
pub async fn set_banned(
    state: &AppState,
    id: UserId,
    banned: bool,
) -> Result<UserObject, ApiError> {
    let user = modify(state, "users.set_banned", id, move |_conn, row| {
        row.banned = banned;
        Ok(())
    })
    .await?;
    if banned && state.settings.modules.is_enabled(Module::Session) {
        crate::modules::session::service::end_user_sessions(state, UserId::from(user.id.clone()))
            .await?;
    }
    Ok(user)
}

/// `POST /v1/users/{id}/lock` (for `security.lockout.duration`) and
/// `/unlock`. An administrator's lock also revokes the user's sessions
/// (lockout after failed attempts does not: that would let anyone who
/// knows an email address sign its owner out).
pub async fn set_locked(
    state: &AppState,
    id: UserId,
    locked: bool,
) -> Result<UserObject, ApiError> {
    let until = locked.then(|| now_ms() + lockout_ms(state));
    let user = modify(state, "users.set_locked", id, move |conn, row| {
        if !locked {
            record_unlock(conn, &row.id)?;
        }
        row.locked_until = until;
        Ok(())
    })
    .await?;
    if locked && state.settings.modules.is_enabled(Module::Session) {
        crate::modules::session::service::end_user_sessions(state, UserId::from(user.id.clone()))
            .await?;
    }
    Ok(user)
}
