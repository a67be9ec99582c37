//! Queries for sign-up attempts.

use diesel::prelude::*;

use super::model::SignUpRow;
use crate::db::schema::sign_ups;
use crate::db::DbConnection;

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SignUpRow>> {
    sign_ups::table
        .find(id)
        .select(SignUpRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &SignUpRow) -> QueryResult<()> {
    diesel::insert_into(sign_ups::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save(conn: &mut DbConnection, row: &SignUpRow) -> QueryResult<()> {
    diesel::update(sign_ups::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

crate::crypto::otp::code_guess_queries!(sign_ups);
