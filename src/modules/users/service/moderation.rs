//! Administrator actions on a whole user: delete, ban and unban, lock and
//! unlock. Banning or locking also ends the user's sessions when the session
//! module is on.

use super::{load, lockout_ms, modify, pool};
use crate::db::write_transaction;
use crate::http::ApiError;
use crate::modules::users::auth::record_unlock;
use crate::modules::users::model::{DeletedObject, UserObject};
use crate::modules::users::store;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// `DELETE /v1/users/{id}`. The user's organization memberships go first
/// (see `orgs::service::remove_deleted_user` for why in that order).
pub async fn delete_user(state: &AppState, id: String) -> Result<DeletedObject, ApiError> {
    if state.settings.modules.is_enabled(Module::Orgs) {
        crate::modules::orgs::service::remove_deleted_user(state, id.clone()).await?;
    }
    pool(state)
        .run("users.delete", move |conn| {
            write_transaction(conn, |conn| {
                let row = load(conn, &id)?;
                store::delete_user(conn, &row.id)?;
                Ok(DeletedObject {
                    object: "user",
                    id: row.id,
                    deleted: true,
                })
            })
        })
        .await
}

/// `POST /v1/users/{id}/ban` and `/unban`.
pub async fn set_banned(
    state: &AppState,
    id: String,
    banned: bool,
) -> Result<UserObject, ApiError> {
    let user = modify(state, "users.set_banned", id, move |_conn, row| {
        row.banned = banned;
        Ok(())
    })
    .await?;
    if banned && state.settings.modules.is_enabled(Module::Session) {
        crate::modules::session::service::end_user_sessions(state, user.id.clone()).await?;
    }
    Ok(user)
}

/// `POST /v1/users/{id}/lock` (for `security.lockout.duration`) and
/// `/unlock`. An administrator's lock also revokes the user's sessions
/// (lockout after failed attempts does not: that would let anyone who
/// knows an email address sign its owner out).
pub async fn set_locked(
    state: &AppState,
    id: String,
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
        crate::modules::session::service::end_user_sessions(state, user.id.clone()).await?;
    }
    Ok(user)
}
