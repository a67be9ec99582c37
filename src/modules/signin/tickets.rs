//! Sign-in tokens ("tickets"): a Backend API caller creates one for a user,
//! hands it to them, and it signs them in once through the `ticket`
//! strategy. Only a SHA-256 digest of the 40-character random token is
//! stored (it is unguessable, so no salt is needed); it is single-use and
//! expires.

use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;

use crate::crypto::ids::{self, new_id};
use crate::crypto::secret_keys::digest;
use crate::db::schema::sign_in_tokens;
use crate::db::{write_transaction, DbConnection, DbPool};
use crate::http::{ApiError, ErrorCode};
use crate::ids::{SignInTokenId, UserId};
use crate::modules::users::service as users;
use crate::modules::Module;
use crate::state::AppState;
use crate::time::now_ms;

/// Id prefix of sign-in tokens.
pub const PREFIX: &str = "sit";
/// Default lifetime: 30 days, as Clerk's.
pub const DEFAULT_TTL_SECS: i64 = 2_592_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sign_in_tokens)]
struct SignInTokenRow {
    id: String,
    user_id: String,
    token_digest: String,
    status: String,
    expire_at: i64,
    created_at: i64,
    updated_at: i64,
}

/// Clerk's `sign_in_token` object. `token` is present only on creation.
#[derive(Debug, Clone, Serialize)]
pub struct SignInTokenObject {
    pub object: &'static str,
    pub id: String,
    pub status: String,
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SignInTokenObject {
    fn from_row(row: SignInTokenRow, token: Option<String>) -> Self {
        Self {
            object: "sign_in_token",
            id: row.id,
            status: row.status,
            user_id: row.user_id,
            token,
            url: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn pool(state: &AppState) -> DbPool {
    state.db.for_module(Module::Signin).clone()
}

/// `POST /v1/sign_in_tokens`.
pub async fn create(
    state: &AppState,
    user_id: UserId,
    ttl_secs: Option<i64>,
) -> Result<SignInTokenObject, ApiError> {
    let ttl = ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=315_360_000).contains(&ttl) {
        return Err(ApiError::param_value(
            "expires_in_seconds",
            "expires_in_seconds must be between 1 and 315360000.",
        ));
    }
    if users::frontend_user(state, user_id.clone())
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("user").with_param("user_id"));
    }
    let token = Alphanumeric.sample_string(&mut rand::rng(), 40);
    let now = now_ms();
    let row = SignInTokenRow {
        id: new_id(PREFIX),
        user_id: user_id.into(),
        token_digest: digest(&token),
        status: "pending".to_owned(),
        expire_at: now + ttl * 1000,
        created_at: now,
        updated_at: now,
    };
    let saved = row.clone();
    pool(state)
        .run("sign_in_tokens.create", move |conn| {
            diesel::insert_into(sign_in_tokens::table)
                .values(&saved)
                .execute(conn)
                .map_err(ApiError::from)
        })
        .await?;
    Ok(SignInTokenObject::from_row(row, Some(token)))
}

/// `POST /v1/sign_in_tokens/{id}/revoke`: only a pending token can be revoked.
pub async fn revoke(state: &AppState, id: SignInTokenId) -> Result<SignInTokenObject, ApiError> {
    if !ids::has_shape(id.as_str(), PREFIX) {
        return Err(ApiError::not_found("sign in token"));
    }
    pool(state)
        .run("sign_in_tokens.revoke", move |conn| {
            write_transaction(conn, |conn| {
                let mut row =
                    find(conn, id.as_str())?.ok_or_else(|| ApiError::not_found("sign in token"))?;
                if row.status != "pending" {
                    return Err(ApiError::param_value(
                        "sign_in_token_id",
                        format!("This sign-in token is {}.", row.status),
                    ));
                }
                row.status = "revoked".to_owned();
                row.updated_at = now_ms();
                diesel::update(sign_in_tokens::table.find(&row.id))
                    .set(&row)
                    .execute(conn)?;
                Ok(SignInTokenObject::from_row(row, None))
            })
        })
        .await
}

fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SignInTokenRow>> {
    sign_in_tokens::table
        .find(id)
        .select(SignInTokenRow::as_select())
        .first(conn)
        .optional()
}

fn invalid_ticket() -> ApiError {
    ApiError::new(
        ErrorCode::TicketInvalid,
        "Invalid ticket",
        "This sign-in ticket is invalid, expired, revoked or already used.",
    )
    .with_param("ticket")
}

/// Accepts a ticket once and returns its user; anything else is refused
/// with the same error, so tickets cannot be probed.
pub async fn accept(state: &AppState, ticket: String) -> Result<UserId, ApiError> {
    if ticket.len() > 256 {
        return Err(invalid_ticket());
    }
    let token_digest = digest(&ticket);
    pool(state)
        .run("sign_in_tokens.accept", move |conn| {
            write_transaction(conn, |conn| {
                let row = sign_in_tokens::table
                    .filter(sign_in_tokens::token_digest.eq(&token_digest))
                    .select(SignInTokenRow::as_select())
                    .first(conn)
                    .optional()?
                    .filter(|row| row.status == "pending" && row.expire_at > now_ms())
                    .ok_or_else(invalid_ticket)?;
                diesel::update(sign_in_tokens::table.find(&row.id))
                    .set((
                        sign_in_tokens::status.eq("accepted"),
                        sign_in_tokens::updated_at.eq(now_ms()),
                    ))
                    .execute(conn)?;
                Ok(UserId::from(row.user_id))
            })
        })
        .await
}
