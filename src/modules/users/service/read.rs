//! Reading users: get one, list and count with filters, and a user's
//! verified email addresses (used by the orgs module for invitations).

use std::collections::HashMap;

use super::{load, pool, to_object};
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::users::list::ListUsersParams;
use crate::modules::users::model::{EmailAddressRow, TotalCount, UserObject, UserRow};
use crate::modules::users::store;
use crate::state::AppState;
use crate::time::now_ms;

/// The user's verified email addresses.
pub async fn verified_emails(state: &AppState, user_id: String) -> Result<Vec<String>, ApiError> {
    pool(state)
        .run("users.verified_emails", move |conn| {
            Ok::<_, ApiError>(
                store::emails_of(conn, &user_id)?
                    .into_iter()
                    .filter(|e| e.verification_status == "verified")
                    .map(|e| e.email_address)
                    .collect(),
            )
        })
        .await
}

/// `GET /v1/users`.
pub async fn list_users(
    state: &AppState,
    params: ListUsersParams,
) -> Result<Vec<UserObject>, ApiError> {
    let filter = params.filter()?;
    let order = params.order()?;
    let page = params.pagination()?;
    pool(state)
        .run("users.list", move |conn| {
            let rows = store::list_users(conn, &filter, order, page)?;
            with_emails(conn, rows)
        })
        .await
}

/// Attaches each user's email addresses, in one query for the whole page.
fn with_emails(conn: &mut DbConnection, rows: Vec<UserRow>) -> Result<Vec<UserObject>, ApiError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut by_user: HashMap<String, Vec<EmailAddressRow>> = HashMap::new();
    for email in store::emails_of_users(conn, &ids)? {
        by_user
            .entry(email.user_id.clone())
            .or_default()
            .push(email);
    }
    let now = now_ms();
    Ok(rows
        .into_iter()
        .map(|row| {
            let emails = by_user.remove(&row.id).unwrap_or_default();
            UserObject::from_rows(row, emails, now)
        })
        .collect())
}

/// `GET /v1/users/count`.
pub async fn count_users(
    state: &AppState,
    params: ListUsersParams,
) -> Result<TotalCount, ApiError> {
    let filter = params.filter()?;
    let total = pool(state)
        .run("users.count", move |conn| {
            store::count_users(conn, &filter).map_err(ApiError::from)
        })
        .await?;
    Ok(TotalCount::new(total))
}

/// `GET /v1/users/{id}`.
pub async fn get_user(state: &AppState, id: String) -> Result<UserObject, ApiError> {
    pool(state)
        .run("users.get", move |conn| {
            let row = load(conn, &id)?;
            to_object(conn, row)
        })
        .await
}
