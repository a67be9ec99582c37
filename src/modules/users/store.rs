//! Diesel queries for users and their email addresses.

use diesel::prelude::*;

use super::list::{Order, OrderField, UserFilter};
use super::model::{EmailAddressRow, UserRow};
use crate::db::contains_pattern;
use crate::db::schema::{email_addresses, email_verifications, users};
use crate::db::{on_backend, DbConnection, MultiBackend};
use crate::http::Pagination;

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends.
    fn lower(text: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

type BoxedUsers<'a> = users::BoxedQuery<'a, MultiBackend>;

// Guesses at the code of an address being verified (`account.rs`).
crate::crypto::otp::code_guess_queries!(email_verifications);

/// On the concrete connection (see `on_backend`), as is [`emails_of`]:
/// both are read for every user object served.
pub fn find_user(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    on_backend!(conn, backend => users::table
        .find(id)
        .select(UserRow::as_select())
        .first(backend))
    .optional()
}

/// As [`find_user`], locking the row until the transaction ends on
/// PostgreSQL (SQLite's `BEGIN IMMEDIATE` has locked the database).
pub fn find_user_for_update(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    let row = users::table.find(id);
    match conn {
        DbConnection::Pg(pg) => row.select(UserRow::as_select()).for_update().first(pg),
        DbConnection::Sqlite(sqlite) => row.select(UserRow::as_select()).first(sqlite),
    }
    .optional()
}

pub fn emails_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<EmailAddressRow>> {
    on_backend!(conn, backend => email_addresses::table
        .filter(email_addresses::user_id.eq(user_id))
        .select(EmailAddressRow::as_select())
        .order((email_addresses::created_at.asc(), email_addresses::id.asc()))
        .load(backend))
}

/// Email addresses of many users in one query, for lists.
pub fn emails_of_users(
    conn: &mut DbConnection,
    user_ids: &[String],
) -> QueryResult<Vec<EmailAddressRow>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    // On the concrete connection (see `on_backend`): every user list
    // reads its page's addresses this way.
    on_backend!(conn, backend => email_addresses::table
        .filter(email_addresses::user_id.eq_any(user_ids))
        .select(EmailAddressRow::as_select())
        .order((email_addresses::created_at.asc(), email_addresses::id.asc()))
        .load(backend))
}

/// The address row of `email` (lower-cased), if any user holds it.
pub fn find_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<EmailAddressRow>> {
    email_addresses::table
        .filter(email_addresses::email_address.eq(email))
        .select(EmailAddressRow::as_select())
        .first(conn)
        .optional()
}

/// The user holding `email` (lower-cased), if any.
pub fn owner_of_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<String>> {
    email_addresses::table
        .filter(email_addresses::email_address.eq(email))
        .select(email_addresses::user_id)
        .first(conn)
        .optional()
}

/// The user holding `email` as a verified address: what sign-in accepts.
pub fn owner_of_verified_email(
    conn: &mut DbConnection,
    email: &str,
) -> QueryResult<Option<String>> {
    email_addresses::table
        .filter(email_addresses::email_address.eq(email))
        .filter(email_addresses::verification_status.eq("verified"))
        .select(email_addresses::user_id)
        .first(conn)
        .optional()
}

pub fn owner_of_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<String>> {
    users::table
        .filter(users::username.eq(username))
        .select(users::id)
        .first(conn)
        .optional()
}

pub fn owner_of_external_id(
    conn: &mut DbConnection,
    external_id: &str,
) -> QueryResult<Option<String>> {
    users::table
        .filter(users::external_id.eq(external_id))
        .select(users::id)
        .first(conn)
        .optional()
}

pub fn insert_user(conn: &mut DbConnection, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn insert_emails(conn: &mut DbConnection, rows: &[EmailAddressRow]) -> QueryResult<()> {
    for row in rows {
        diesel::insert_into(email_addresses::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Writes every column of `row` back.
pub fn save_user(conn: &mut DbConnection, row: &UserRow) -> QueryResult<()> {
    diesel::update(users::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

/// Deletes the user; email addresses go with it (ON DELETE CASCADE).
pub fn delete_user(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(users::table.find(id))
        .execute(conn)
        .map(|deleted| deleted > 0)
}

/// Where a `starting_after` page begins: after the user with this id and
/// creation time, in the list's direction.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub id: String,
    pub created_at: i64,
}

/// The cursor for user `id`, if that user exists.
pub fn cursor_of(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Cursor>> {
    users::table
        .find(id)
        .select(users::created_at)
        .first(conn)
        .optional()
        .map(|created_at| {
            created_at.map(|created_at| Cursor {
                id: id.to_owned(),
                created_at,
            })
        })
}

/// One page of users matching `filter`, in `order`, after `cursor` when
/// one is given (ordering by `created_at` only, checked by the caller).
pub fn list_users(
    conn: &mut DbConnection,
    filter: &UserFilter,
    order: Order,
    page: Pagination,
    cursor: Option<&Cursor>,
) -> QueryResult<Vec<UserRow>> {
    if filter.matches_nothing {
        return Ok(Vec::new());
    }
    let mut query = filtered(filter);
    if let Some(cursor) = cursor {
        query = if order.descending {
            query.filter(
                users::created_at.lt(cursor.created_at).or(users::created_at
                    .eq(cursor.created_at)
                    .and(users::id.lt(cursor.id.clone()))),
            )
        } else {
            query.filter(
                users::created_at.gt(cursor.created_at).or(users::created_at
                    .eq(cursor.created_at)
                    .and(users::id.gt(cursor.id.clone()))),
            )
        };
    }
    ordered(query, order)
        .select(UserRow::as_select())
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)
}

/// The ids of every user matching `filter`, in `order`: for lists of
/// other objects (organization memberships) filtered or ordered by their
/// users.
pub fn matching_ids(
    conn: &mut DbConnection,
    filter: &UserFilter,
    order: Order,
) -> QueryResult<Vec<String>> {
    if filter.matches_nothing {
        return Ok(Vec::new());
    }
    ordered(filtered(filter), order)
        .select(users::id)
        .load(conn)
}

/// How many users match `filter`.
pub fn count_users(conn: &mut DbConnection, filter: &UserFilter) -> QueryResult<i64> {
    if filter.matches_nothing {
        return Ok(0);
    }
    filtered(filter).count().get_result(conn)
}

fn filtered(filter: &UserFilter) -> BoxedUsers<'_> {
    let mut query = users::table.into_boxed();
    if let Some(within) = &filter.within {
        query = query.filter(users::id.eq_any(within));
    }
    if !filter.user_ids.is_empty() {
        query = query.filter(users::id.eq_any(&filter.user_ids));
    }
    if !filter.excluded_user_ids.is_empty() {
        query = query.filter(users::id.ne_all(&filter.excluded_user_ids));
    }
    if !filter.external_ids.is_empty() {
        query = query.filter(users::external_id.eq_any(&filter.external_ids));
    }
    if !filter.excluded_external_ids.is_empty() {
        // A user without an external id is not one of the excluded.
        query = query.filter(
            users::external_id
                .is_null()
                .or(users::external_id.ne_all(&filter.excluded_external_ids)),
        );
    }
    if !filter.usernames.is_empty() {
        query = query.filter(users::username.eq_any(&filter.usernames));
    }
    if !filter.email_addresses.is_empty() {
        query = query.filter(
            users::id.eq_any(
                email_addresses::table
                    .filter(email_addresses::email_address.eq_any(&filter.email_addresses))
                    .select(email_addresses::user_id),
            ),
        );
    }
    if let Some(text) = &filter.query {
        let pattern = contains_pattern(text);
        query = query.filter(
            users::id
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::external_id).like(pattern.clone()).escape('\\'))
                .or(users::username.like(pattern.clone()).escape('\\'))
                .or(lower(users::first_name).like(pattern.clone()).escape('\\'))
                .or(lower(users::last_name).like(pattern.clone()).escape('\\'))
                .or(users::id.eq_any(emails_like(pattern))),
        );
    }
    if let Some(text) = &filter.email_address_query {
        query = query.filter(users::id.eq_any(emails_like(contains_pattern(text))));
    }
    if let Some(text) = &filter.username_query {
        query = query.filter(users::username.like(contains_pattern(text)).escape('\\'));
    }
    if let Some(text) = &filter.name_query {
        let pattern = contains_pattern(text);
        query = query.filter(
            lower(users::first_name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::last_name).like(pattern).escape('\\')),
        );
    }
    if let Some(banned) = filter.banned {
        query = query.filter(users::banned.eq(banned));
    }
    if let Some(t) = filter.created_at_before {
        query = query.filter(users::created_at.lt(t));
    }
    if let Some(t) = filter.created_at_after {
        query = query.filter(users::created_at.gt(t));
    }
    if let Some(t) = filter.last_sign_in_at_before {
        query = query.filter(users::last_sign_in_at.lt(t));
    }
    if let Some(t) = filter.last_sign_in_at_after {
        query = query.filter(users::last_sign_in_at.gt(t));
    }
    if let Some(t) = filter.last_active_at_before {
        query = query.filter(users::last_active_at.lt(t));
    }
    if let Some(t) = filter.last_active_at_after {
        query = query.filter(users::last_active_at.gt(t));
    }
    query
}

fn emails_like(
    pattern: String,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<
        email_addresses::table,
        diesel::dsl::Escape<diesel::dsl::Like<email_addresses::email_address, String>>,
    >,
    email_addresses::user_id,
> {
    email_addresses::table
        .filter(email_addresses::email_address.like(pattern).escape('\\'))
        .select(email_addresses::user_id)
}

/// Orders by the field, then by id; NULLs sort last in both directions on
/// both backends (`col IS NULL` first), which PostgreSQL and SQLite disagree on.
fn ordered(query: BoxedUsers<'_>, order: Order) -> BoxedUsers<'_> {
    macro_rules! by {
        ($query:expr, $col:expr) => {
            if order.descending {
                $query
                    .order_by($col.is_null().asc())
                    .then_order_by($col.desc())
                    .then_order_by(users::id.desc())
            } else {
                $query
                    .order_by($col.is_null().asc())
                    .then_order_by($col.asc())
                    .then_order_by(users::id.asc())
            }
        };
    }
    match order.field {
        OrderField::CreatedAt if order.descending => {
            query.order_by((users::created_at.desc(), users::id.desc()))
        }
        OrderField::CreatedAt => query.order_by((users::created_at.asc(), users::id.asc())),
        OrderField::UpdatedAt if order.descending => {
            query.order_by((users::updated_at.desc(), users::id.desc()))
        }
        OrderField::UpdatedAt => query.order_by((users::updated_at.asc(), users::id.asc())),
        OrderField::LastSignInAt => by!(query, users::last_sign_in_at),
        OrderField::LastActiveAt => by!(query, users::last_active_at),
        OrderField::Username => by!(query, users::username),
        OrderField::FirstName => by!(query, users::first_name),
        OrderField::LastName => by!(query, users::last_name),
        OrderField::EmailAddress => by!(query, primary_email()),
        // Every value is null: the tie-break is the order.
        OrderField::Unset if order.descending => query.order_by(users::id.desc()),
        OrderField::Unset => query.order_by(users::id.asc()),
    }
}

/// The user's primary email address, for ordering.
fn primary_email(
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Text>> {
    diesel::dsl::sql(
        "(SELECT e.email_address FROM email_addresses e WHERE e.id = users.primary_email_address_id)",
    )
}
