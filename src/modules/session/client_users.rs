//! The session area's copy of the users its client objects show: each
//! user as the Frontend API presents them to themselves, pushed by the
//! users area through the outbox ([`crate::outbox`]). `GET /v1/client` and
//! the session objects read only this copy, so they keep working while the
//! users database is down.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

use super::service::pool;
use crate::db::schema::session_users;
use crate::db::{on_backend, DbConnection, DbPool};
use crate::http::ApiError;
use crate::outbox::{Message, Receiver};
use crate::state::AppState;
use crate::time::now_ms;

/// The outbox topic of [`ClientUser`].
pub const CLIENT_USERS_TOPIC: &str = "session.client_users";

/// A user as the client object shows them, after the change that wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientUser {
    pub user_id: String,
    /// Clerk's `user` object without private metadata; `None`: deleted.
    pub user: Option<Value>,
    /// The session object's `public_user_data`.
    pub public_user_data: Option<Value>,
    /// Until when the user is locked: `locked` and
    /// `lockout_expires_in_seconds` depend on the time they are shown.
    pub locked_until: Option<i64>,
}

/// Applies [`ClientUser`] deliveries to `session_users`.
#[derive(Debug)]
pub struct ClientUsersReceiver;

/// The receiver the users area's dispatcher delivers to.
pub static CLIENT_USERS: ClientUsersReceiver = ClientUsersReceiver;

impl Receiver for ClientUsersReceiver {
    fn topics(&self) -> &'static [&'static str] {
        &[CLIENT_USERS_TOPIC]
    }

    fn database(&self, state: &AppState) -> DbPool {
        pool(state)
    }

    fn apply(&self, conn: &mut DbConnection, message: &Message) -> Result<bool, ApiError> {
        let change: ClientUser = match serde_json::from_str(&message.payload) {
            Ok(change) => change,
            Err(error) => {
                tracing::error!(%error, seq = message.seq, "an unreadable user delivery was dropped");
                return Ok(false);
            }
        };
        Ok(save(conn, &change, message.version)?)
    }

    fn applied(&self, _state: &AppState, _message: &Message) {}
}

/// Stores `change` as `version` unless the copy has this version or a
/// newer one (as `claims::save` does).
fn save(conn: &mut DbConnection, change: &ClientUser, version: i64) -> QueryResult<bool> {
    let user = change.user.as_ref().map(Value::to_string);
    let public = change.public_user_data.as_ref().map(Value::to_string);
    let now = now_ms();
    let inserted = on_backend!(conn, c => diesel::insert_into(session_users::table)
        .values((
            session_users::user_id.eq(&change.user_id),
            session_users::user_object.eq(&user),
            session_users::public_user_data.eq(&public),
            session_users::locked_until.eq(change.locked_until),
            session_users::version.eq(version),
            session_users::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted > 0 {
        return Ok(true);
    }
    let updated = diesel::update(
        session_users::table
            .find(&change.user_id)
            .filter(session_users::version.lt(version)),
    )
    .set((
        session_users::user_object.eq(&user),
        session_users::public_user_data.eq(&public),
        session_users::locked_until.eq(change.locked_until),
        session_users::version.eq(version),
        session_users::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// The user object and public user data a client shows, as JSON text.
pub type ShownUser = (Box<RawValue>, Box<RawValue>);

/// The user object and public user data a client shows for `user_id` at
/// `now`; `None` for a user the copy does not have (or has as deleted).
///
/// `GET /v1/client` reads this for every session on every page load, so
/// the stored object is not parsed into a tree: its top-level fields stay
/// raw text and only the lock fields, which depend on `now`, are set.
/// The fields come out in key order, as a `serde_json::Value` object's do.
pub fn client_user_on(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
) -> QueryResult<Option<ShownUser>> {
    let row: Option<(Option<String>, Option<String>, Option<i64>)> = session_users::table
        .find(user_id)
        .select((
            session_users::user_object,
            session_users::public_user_data,
            session_users::locked_until,
        ))
        .first(conn)
        .optional()?;
    let Some((Some(user), Some(public), locked_until)) = row else {
        return Ok(None);
    };
    let remaining_ms = locked_until.map(|until| until - now).filter(|ms| *ms > 0);
    let shown = || -> Option<ShownUser> {
        let mut fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&user).ok()?;
        fields.insert("locked".into(), to_raw_value(&remaining_ms.is_some()).ok()?);
        // Rounded up, as the users area does: a lock in force never
        // reports 0 seconds.
        let seconds = remaining_ms.map(|ms| (ms + 999) / 1000);
        fields.insert(
            "lockout_expires_in_seconds".into(),
            to_raw_value(&seconds).ok()?,
        );
        Some((
            to_raw_value(&fields).ok()?,
            RawValue::from_string(public).ok()?,
        ))
    };
    Ok(shown())
}
