//! Queries for the instance, its signing keys and its secret keys.

use diesel::prelude::*;

use crate::db::schema::{instances, secret_keys, signing_keys};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = instances)]
pub struct InstanceRow {
    pub id: String,
    pub environment_type: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub show_last_used_badge: bool,
    pub client_token_key: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub instance_id: String,
    pub algorithm: String,
    pub private_key_pkcs8: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub activates_at: i64,
    pub publish_until: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = secret_keys)]
pub struct SecretKeyRow {
    pub id: String,
    pub instance_id: String,
    pub key_digest: String,
    pub key_hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The instance, if one was created (there is at most one per database).
pub fn find_instance(conn: &mut DbConnection) -> QueryResult<Option<InstanceRow>> {
    instances::table
        .select(InstanceRow::as_select())
        .order(instances::created_at.asc())
        .first(conn)
        .optional()
}

pub fn insert_instance(conn: &mut DbConnection, row: &InstanceRow) -> QueryResult<()> {
    diesel::insert_into(instances::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn insert_signing_key(conn: &mut DbConnection, row: &SigningKeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Signing keys that may still be published at `now`: not retired, or
/// retired recently enough (`since`) or still needed (`publish_until`).
pub fn signing_keys_in_use(
    conn: &mut DbConnection,
    since: i64,
    now: i64,
) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::retired_at.gt(since))
                .or(signing_keys::publish_until.gt(now)),
        )
        .select(SigningKeyRow::as_select())
        .order((
            signing_keys::activates_at.desc(),
            signing_keys::created_at.desc(),
        ))
        .load(conn)
}

/// Retires every unretired key at `at` (a rotation's activation time).
pub fn retire_signing_keys(conn: &mut DbConnection, at: i64) -> QueryResult<()> {
    diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
        .set(signing_keys::retired_at.eq(at))
        .execute(conn)
        .map(drop)
}

/// Keeps key `kid` published at least until `until` (a long-lived token).
pub fn extend_publication(conn: &mut DbConnection, kid: &str, until: i64) -> QueryResult<()> {
    diesel::update(
        signing_keys::table.find(kid).filter(
            signing_keys::publish_until
                .is_null()
                .or(signing_keys::publish_until.lt(until)),
        ),
    )
    .set(signing_keys::publish_until.eq(until))
    .execute(conn)
    .map(drop)
}

pub fn insert_secret_key(conn: &mut DbConnection, row: &SecretKeyRow) -> QueryResult<()> {
    diesel::insert_into(secret_keys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Whether an unrevoked secret key has this digest.
pub fn active_secret_key_exists(conn: &mut DbConnection, digest: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        secret_keys::table
            .filter(secret_keys::key_digest.eq(digest))
            .filter(secret_keys::revoked_at.is_null()),
    ))
    .get_result(conn)
}

/// Replaces the stored client-token key if it is still `current` (None:
/// unset); whether it was. Conditional, so processes starting together
/// neither overwrite each other's new key nor seal a sealed value twice.
pub fn replace_client_token_key(
    conn: &mut DbConnection,
    id: &str,
    current: Option<&str>,
    new: &str,
) -> QueryResult<bool> {
    let target = instances::table.find(id);
    let updated = match current {
        Some(current) => diesel::update(target.filter(instances::client_token_key.eq(current)))
            .set(instances::client_token_key.eq(new))
            .execute(conn)?,
        None => diesel::update(target.filter(instances::client_token_key.is_null()))
            .set(instances::client_token_key.eq(new))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// Every signing key, retired ones included: they are all sealed alike.
pub fn all_signing_keys(conn: &mut DbConnection) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .select(SigningKeyRow::as_select())
        .order(signing_keys::created_at.asc())
        .load(conn)
}

/// Replaces a signing key's stored private key if it is still `current`;
/// whether it was.
pub fn replace_signing_key_secret(
    conn: &mut DbConnection,
    kid: &str,
    current: &str,
    new: &str,
) -> QueryResult<bool> {
    diesel::update(
        signing_keys::table
            .find(kid)
            .filter(signing_keys::private_key_pkcs8.eq(current)),
    )
    .set(signing_keys::private_key_pkcs8.eq(new))
    .execute(conn)
    .map(|updated| updated == 1)
}

/// Turns the "last used" badge on or off for the instance.
pub fn set_show_last_used_badge(conn: &mut DbConnection, id: &str, show: bool) -> QueryResult<()> {
    diesel::update(instances::table.find(id))
        .set(instances::show_last_used_badge.eq(show))
        .execute(conn)
        .map(drop)
}
