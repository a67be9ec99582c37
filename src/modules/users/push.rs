//! What the users area pushes to the session area: each user as the
//! Frontend API client object shows them, written to the outbox
//! ([`crate::outbox`]) in the transaction of every change to what it
//! shows (creation, profile, metadata, email addresses, lock, ban, sign-in
//! bookkeeping, deletion). The session area answers `GET /v1/client` from
//! its copy, without reading the users database.

use diesel::prelude::*;

use super::model::{PublicUserData, UserObject};
use super::service::pool;
use super::store;
use crate::db::schema::users;
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::session::service::{ClientUser, CLIENT_USERS, CLIENT_USERS_TOPIC};
use crate::outbox::{self, Backfill};
use crate::state::AppState;
use crate::time::now_ms;

/// Writes, in the caller's transaction, `user_id` as the client shows them
/// after the transaction's changes (deleted: no user).
pub(super) fn user_changed(conn: &mut DbConnection, user_id: &str) -> Result<(), ApiError> {
    outbox::enqueue(conn, CLIENT_USERS_TOPIC, user_id, |conn| {
        current(conn, user_id)
    })
}

fn current(conn: &mut DbConnection, user_id: &str) -> Result<ClientUser, ApiError> {
    let Some(row) = store::find_user(conn, user_id)? else {
        return Ok(ClientUser {
            user_id: user_id.to_owned(),
            user: None,
            public_user_data: None,
            locked_until: None,
        });
    };
    let locked_until = row.locked_until;
    let emails = store::emails_of(conn, &row.id)?;
    let mut user = UserObject::from_rows(row, emails, now_ms()).for_frontend();
    super::enterprise::attach(conn, std::slice::from_mut(&mut user))?;
    super::social::attach(conn, std::slice::from_mut(&mut user))?;
    let public = PublicUserData::of(&user);
    Ok(ClientUser {
        user_id: user_id.to_owned(),
        user: Some(serde_json::to_value(&user).map_err(ApiError::internal)?),
        public_user_data: Some(serde_json::to_value(&public).map_err(ApiError::internal)?),
        locked_until,
    })
}

/// Delivers what is waiting right after a change committed, so the next
/// client object shows it. Bounded by `database.primary_timeout` and never
/// an error: what it cannot deliver now, the outbox dispatcher delivers
/// when the session database answers.
pub(super) async fn deliver_soon(state: &AppState) {
    let deadline = state.settings.database.primary_timeout;
    let source = pool(state);
    let delivery = outbox::deliver(state, &source, &CLIENT_USERS);
    match tokio::time::timeout(deadline, delivery).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::debug!(%error, "users left to the outbox dispatcher"),
        Err(_) => tracing::debug!("users left to the outbox dispatcher (timed out)"),
    }
}

/// Every user that existed before the outbox did.
pub const BACKFILL: Backfill = Backfill {
    name: "session.client_users",
    write: backfill,
};

fn backfill(conn: &mut DbConnection) -> Result<(), ApiError> {
    let mut ids: Vec<String> = users::table.select(users::id).load(conn)?;
    ids.sort();
    for id in ids {
        user_changed(conn, &id)?;
    }
    Ok(())
}
