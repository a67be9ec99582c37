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

/// Takes the transfer identity of `client_id`'s newest transferable,
/// unexpired attempt: read, then cleared by a conditional update, so it
/// is taken once. Returns it with the attempt's strategy.
pub fn take_transfer(
    conn: &mut DbConnection,
    client_id: &str,
    now: i64,
) -> QueryResult<Option<(String, Option<String>)>> {
    let found: Option<(String, Option<String>, Option<String>)> = sign_ins::table
        .filter(sign_ins::client_id.eq(client_id))
        .filter(sign_ins::first_factor_status.eq("transferable"))
        .filter(sign_ins::transfer_identity.is_not_null())
        .filter(sign_ins::abandon_at.gt(now))
        .order(sign_ins::updated_at.desc())
        .select((
            sign_ins::id,
            sign_ins::transfer_identity,
            sign_ins::first_factor_strategy,
        ))
        .first(conn)
        .optional()?;
    let Some((id, Some(identity), strategy)) = found else {
        return Ok(None);
    };
    let taken = diesel::update(
        sign_ins::table
            .find(&id)
            .filter(sign_ins::transfer_identity.is_not_null()),
    )
    .set(sign_ins::transfer_identity.eq(None::<String>))
    .execute(conn)?;
    Ok((taken == 1).then_some((identity, strategy)))
}

crate::crypto::otp::code_guess_queries!(sign_ins);
