//! The user shown with each session of the Frontend API. Every lookup of
//! it goes through this file, so its source can change in one place; today
//! it is the users module's tables.
//!
//! When the session and users tables share a database (the default), the
//! client, its sessions and their users are read in one unit of work on one
//! connection ([`read_on`] inside the session read): `GET /v1/client` runs on
//! every page load, and a blocking-pool trip per read (client, sessions,
//! each user) cost more than the reads. With either module on a database of
//! its own, the user is read from the users database ([`read`]).

use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::users::service::{frontend_user, frontend_user_on, UserObject};
use crate::modules::Module;
use crate::state::AppState;

/// Whether [`read_on`] can run on a session database connection.
pub fn on_session_database(state: &AppState) -> bool {
    !state.db.has_own_database(Module::Session) && !state.db.has_own_database(Module::Users)
}

/// The user `user_id` as the Frontend API shows it, on a session database
/// connection (only when [`on_session_database`]); `None` when gone.
pub fn read_on(conn: &mut DbConnection, user_id: &str) -> Result<Option<UserObject>, ApiError> {
    frontend_user_on(conn, user_id)
}

/// As [`read_on`], from wherever the users are.
pub async fn read(state: &AppState, user_id: String) -> Result<Option<UserObject>, ApiError> {
    frontend_user(state, user_id).await
}
