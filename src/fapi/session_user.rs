//! The user shown with each session of the Frontend API. Every lookup of
//! it goes through this file, so its source can change in one place; it
//! is the session area's own copy, which the users area pushes through the
//! outbox (`session::service::CLIENT_USERS`): the client object needs only
//! the session database, even while the users database is down.
//!
//! The client, its sessions and their users are read in one unit of work
//! on one connection ([`read_on`] inside the session read): `GET /v1/client`
//! runs on every page load, and a blocking-pool trip per read (client,
//! sessions, each user) cost more than the reads.

use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::session::service::{client_user_on, ShownUser};
use crate::modules::Module;
use crate::state::AppState;

/// The user `user_id` as the Frontend API shows it at `now`, with the
/// session's public user data, on a session database connection; `None`
/// when gone.
pub fn read_on(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
) -> Result<Option<ShownUser>, ApiError> {
    client_user_on(conn, user_id, now).map_err(ApiError::from)
}

/// As [`read_on`], through the session area's read failover.
pub async fn read(
    state: &AppState,
    user_id: String,
    now: i64,
) -> Result<Option<ShownUser>, ApiError> {
    state
        .db
        .read_with_failover(Module::Session, "sessions.client_user", move |conn| {
            read_on(conn, &user_id, now)
        })
        .await
}
