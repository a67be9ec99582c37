//! Queries for sign-in attempts.

use diesel::prelude::*;

use super::model::SignInRow;
use crate::db::schema::sign_ins;
use crate::db::DbConnection;

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SignInRow>> {
    sign_ins::table
        .find(id)
        .select(SignInRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &SignInRow) -> QueryResult<()> {
    diesel::insert_into(sign_ins::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save(conn: &mut DbConnection, row: &SignInRow) -> QueryResult<()> {
    diesel::update(sign_ins::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

/// Clears the native-app nonce of `id` if its digest is `digest`; true
/// when it did (the nonce is used once).
pub fn take_nonce(conn: &mut DbConnection, id: &str, digest: &str) -> QueryResult<bool> {
    diesel::update(
        sign_ins::table
            .find(id)
            .filter(sign_ins::rotating_token_nonce_digest.eq(digest)),
    )
    .set(sign_ins::rotating_token_nonce_digest.eq(None::<String>))
    .execute(conn)
    .map(|rows| rows == 1)
}

crate::crypto::otp::code_guess_queries!(sign_ins);
