//! Queries for clients and sessions.

use diesel::prelude::*;

use super::model::{status, ClientRow, SessionRow};
use crate::crypto::ids::{new_id, prefix};
use crate::db::schema::{clients, deleted_users, session_events, sessions};
use crate::db::{on_backend, DbConnection};
use crate::http::Pagination;

pub fn find_client(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    // On the concrete connection (see `on_backend`): read on every FAPI call.
    on_backend!(conn, backend => clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(backend))
    .optional()
}

/// The client, unless it has ended: what a client token may still name.
pub fn find_live_client(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    Ok(find_client(conn, id)?.filter(|client| client.ended_at.is_none()))
}

pub fn insert_client(conn: &mut DbConnection, row: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save_client(conn: &mut DbConnection, row: &ClientRow) -> QueryResult<()> {
    diesel::update(clients::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

/// The hot read of the token path: one primary-key lookup.
pub fn find_session(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    // On the concrete connection (see `on_backend`): the read behind every
    // fresh token.
    on_backend!(conn, backend => sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(backend))
    .optional()
}

/// The token path's coalesced read (see `token_reads`): the rows of `ids`
/// that exist, in any order.
///
/// One id is [`find_session`]. On PostgreSQL more go in one round trip as
/// `id IN ($1, $2, …)` ([`SessionIdIn`]). SQLite, in-process, looks each up
/// with the cached statement of [`find_session`].
pub fn find_sessions(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<SessionRow>> {
    match (conn, ids) {
        (conn, [id]) => Ok(find_session(conn, id)?.into_iter().collect()),
        (DbConnection::Pg(pg), ids) => sessions::table
            .filter(SessionIdIn(ids))
            .select(SessionRow::as_select())
            .load(pg),
        (sqlite @ DbConnection::Sqlite(_), ids) => {
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                rows.extend(find_session(sqlite, id)?);
            }
            Ok(rows)
        }
    }
}

/// `sessions.id IN ($1, …, $n)` on PostgreSQL, one parameter per id, with
/// the list padded (by repeating an id) to a power of two: one prepared
/// statement per length (2, 4, 8, 16 for the token path's batches).
///
/// Not diesel's `eq_any`, which binds one array (`id = ANY($1)`): with the
/// array's length unknown, PostgreSQL's generic plan guesses ten rows,
/// which on a small table is a sequential scan and on any table loses to a
/// custom plan, so the statement is re-planned on every execution (about
/// 80 µs on the benchmark machine). With one parameter per id the generic
/// plan knows how many rows come back and keeps the primary-key index. Nor
/// a chain of `OR`s: PostgreSQL plans those as one bitmap index scan per id.
#[derive(Debug, Clone, Copy)]
struct SessionIdIn<'a>(&'a [String]);

impl diesel::expression::Expression for SessionIdIn<'_> {
    type SqlType = diesel::sql_types::Bool;
}

impl<QS> diesel::expression::AppearsOnTable<QS> for SessionIdIn<'_> where
    sessions::id: diesel::expression::AppearsOnTable<QS>
{
}

impl diesel::expression::ValidGrouping<()> for SessionIdIn<'_> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl diesel::query_builder::QueryId for SessionIdIn<'_> {
    type QueryId = ();
    // Cached by its SQL text, which differs only by the padded length.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for SessionIdIn<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        let Some(first) = self.0.first() else {
            out.push_sql("FALSE");
            return Ok(());
        };
        let padded = self.0.len().next_power_of_two();
        sessions::id.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        for (index, id) in self
            .0
            .iter()
            .chain(std::iter::repeat(first))
            .take(padded)
            .enumerate()
        {
            if index > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<diesel::sql_types::Text, _>(id)?;
        }
        out.push_sql(")");
        Ok(())
    }
}

pub fn insert_session(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save_session(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<()> {
    diesel::update(sessions::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

/// A client's sessions, oldest first.
pub fn sessions_of_client(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Vec<SessionRow>> {
    on_backend!(conn, backend => sessions::table
        .filter(sessions::client_id.eq(client_id))
        .select(SessionRow::as_select())
        .order((sessions::created_at.asc(), sessions::id.asc()))
        .load(backend))
}

/// Sets `new_status` on every active session of `user_id`; returns them.
pub fn end_user_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    new_status: &str,
    now: i64,
) -> QueryResult<Vec<String>> {
    end_user_sessions_except(conn, user_id, "", new_status, now)
}

/// A user's sessions, newest first.
pub fn sessions_of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .select(SessionRow::as_select())
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .load(conn)
}

/// [`end_user_sessions`] sparing the session `keep`.
pub fn end_user_sessions_except(
    conn: &mut DbConnection,
    user_id: &str,
    keep: &str,
    new_status: &str,
    now: i64,
) -> QueryResult<Vec<String>> {
    let ids: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::status.eq(status::ACTIVE))
        .filter(sessions::id.ne(keep))
        .select(sessions::id)
        .load(conn)?;
    diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
        .set((
            sessions::status.eq(new_status),
            sessions::ended_at.eq(now),
            sessions::updated_at.eq(now),
        ))
        .execute(conn)?;
    // The same history as a single ending (`writes::apply`) leaves.
    for id in &ids {
        diesel::insert_into(session_events::table)
            .values((
                session_events::id.eq(new_id(prefix::SESSION_EVENT)),
                session_events::session_id.eq(id),
                session_events::kind.eq(new_status),
                session_events::occurred_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(ids)
}

/// The first key of the per-user advisory locks (PostgreSQL's two-key
/// form, whose key space is apart from the migrations' one-key lock).
const USER_LOCK_CLASS: i32 = 0x5354_5553;

/// Takes, until the transaction ends, the lock that orders starting a
/// session of `user_id` against removing all of them when the user is
/// deleted. Without it, PostgreSQL (READ COMMITTED) lets a session insert
/// and the bulk removal miss each other: the removal's UPDATE does not see
/// the uncommitted session, nor the session's check the uncommitted
/// deletion. SQLite's `BEGIN IMMEDIATE` (`write_transaction`) already
/// serialises the two.
pub fn lock_user_sessions(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(pg) => diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<diesel::sql_types::Integer, _>(USER_LOCK_CLASS)
            .bind::<diesel::sql_types::Text, _>(user_id)
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Whether `user_id` was deleted: no session may start for them.
pub fn is_deleted_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(deleted_users::table.find(user_id))).get_result(conn)
}

/// Records `user_id` as deleted (once; a second deletion keeps the first
/// time) and removes their active sessions; returns the removed ids. Call
/// inside a write transaction, after [`lock_user_sessions`].
pub fn delete_user_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
) -> QueryResult<Vec<String>> {
    // An insert that ignores a duplicate, which the multi-backend
    // connection cannot express.
    on_backend!(conn, backend => diesel::insert_into(deleted_users::table)
        .values((
            deleted_users::user_id.eq(user_id),
            deleted_users::deleted_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(backend))?;
    end_user_sessions(conn, user_id, status::REMOVED, now)
}

/// Forgets deletions recorded before `cutoff` (Unix ms): a sign-in that
/// read the user before the deletion has long finished; returns how many.
pub fn trim_deleted_users(conn: &mut DbConnection, cutoff: i64) -> QueryResult<usize> {
    diesel::delete(deleted_users::table.filter(deleted_users::deleted_at.lt(cutoff))).execute(conn)
}

/// Filters of `GET /v1/sessions`.
#[derive(Debug, Default, Clone)]
pub struct SessionFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub status: Option<String>,
    /// The time derived statuses (`expired`, `abandoned`) are judged at.
    pub now: i64,
}

fn filtered(filter: &SessionFilter) -> sessions::BoxedQuery<'_, crate::db::MultiBackend> {
    let mut query = sessions::table.into_boxed();
    if let Some(user_id) = &filter.user_id {
        query = query.filter(sessions::user_id.eq(user_id));
    }
    if let Some(client_id) = &filter.client_id {
        query = query.filter(sessions::client_id.eq(client_id));
    }
    let now = filter.now;
    match filter.status.as_deref() {
        None => {}
        Some(status::ACTIVE) => {
            query = query
                .filter(sessions::status.eq(status::ACTIVE))
                .filter(sessions::expire_at.gt(now))
                .filter(sessions::abandon_at.gt(now));
        }
        Some(status::EXPIRED) => {
            query = query
                .filter(sessions::status.eq(status::ACTIVE))
                .filter(sessions::expire_at.le(now));
        }
        Some(status::ABANDONED) => {
            query = query
                .filter(sessions::status.eq(status::ACTIVE))
                .filter(sessions::expire_at.gt(now))
                .filter(sessions::abandon_at.le(now));
        }
        Some(other) => query = query.filter(sessions::status.eq(other.to_owned())),
    }
    query
}

pub fn list_sessions(
    conn: &mut DbConnection,
    filter: &SessionFilter,
    page: Pagination,
) -> QueryResult<Vec<SessionRow>> {
    filtered(filter)
        .select(SessionRow::as_select())
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)
}

pub fn count_sessions(conn: &mut DbConnection, filter: &SessionFilter) -> QueryResult<i64> {
    filtered(filter).count().get_result(conn)
}

pub fn list_clients(conn: &mut DbConnection, page: Pagination) -> QueryResult<Vec<ClientRow>> {
    clients::table
        .select(ClientRow::as_select())
        .order((clients::created_at.desc(), clients::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)
}

pub fn count_clients(conn: &mut DbConnection) -> QueryResult<i64> {
    clients::table.count().get_result(conn)
}

/// Sets the claims snapshot of `user_id`'s active sessions in `org_id`;
/// `None` clears the active organization (the user left it).
pub fn set_organization_claims(
    conn: &mut DbConnection,
    user_id: &str,
    org_id: &str,
    snapshot: Option<String>,
    now: i64,
) -> QueryResult<()> {
    let target = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::last_active_organization_id.eq(org_id))
        .filter(sessions::status.eq(status::ACTIVE));
    match snapshot {
        Some(snapshot) => diesel::update(target)
            .set((
                sessions::claims_snapshot.eq(snapshot),
                sessions::updated_at.eq(now),
            ))
            .execute(conn),
        None => diesel::update(target)
            .set((
                sessions::claims_snapshot.eq("{}"),
                sessions::last_active_organization_id.eq(None::<String>),
                sessions::updated_at.eq(now),
            ))
            .execute(conn),
    }
    .map(drop)
}

/// Clears `session_id` as its client's last active session, if it is.
pub fn forget_last_active_session(
    conn: &mut DbConnection,
    session_id: &str,
    now: i64,
) -> QueryResult<usize> {
    let client_id: Option<String> = sessions::table
        .find(session_id)
        .select(sessions::client_id)
        .first(conn)
        .optional()?;
    let Some(client_id) = client_id else {
        return Ok(0);
    };
    diesel::update(
        clients::table
            .find(client_id)
            .filter(clients::last_active_session_id.eq(session_id)),
    )
    .set((
        clients::last_active_session_id.eq(None::<String>),
        clients::updated_at.eq(now),
    ))
    .execute(conn)
}

/// When the session was last active according to `session_activity`
/// (touches not yet compacted into the session row).
pub fn latest_activity(conn: &mut DbConnection, session_id: &str) -> QueryResult<Option<i64>> {
    use crate::db::schema::session_activity;
    session_activity::table
        .filter(session_activity::session_id.eq(session_id))
        .select(diesel::dsl::max(session_activity::occurred_at))
        .first(conn)
}
