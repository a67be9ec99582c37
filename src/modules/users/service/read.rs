//! Reading users: get one, list and count with filters, a user's verified
//! email addresses (used by the orgs module for invitations), and the
//! users among given ones that match a filter (for membership lists).

use std::collections::{HashMap, HashSet};

use super::{load, pool, to_object};
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::ids::{OrganizationId, UserId};
use crate::modules::orgs;
use crate::modules::users::list::{ListUsersParams, Order, UserFilter};
use crate::modules::users::model::{EmailAddressRow, TotalCount, UserObject, UserRow};
use crate::modules::users::store;
use crate::state::AppState;
use crate::time::now_ms;

/// The user's verified email addresses.
pub async fn verified_emails(state: &AppState, user_id: UserId) -> Result<Vec<String>, ApiError> {
    pool(state)
        .run("users.verified_emails", move |conn| {
            Ok::<_, ApiError>(
                store::emails_of(conn, user_id.as_str())?
                    .into_iter()
                    .filter(|e| e.verification_status == "verified")
                    .map(|e| e.email_address)
                    .collect(),
            )
        })
        .await
}

/// Most users an id restriction may name (an organization's members as a
/// user filter): each is a bound parameter, and both databases cap those.
const MAX_WITHIN: usize = 10_000;

/// Turns the organization filters into user ids through the orgs service:
/// the two modules may keep their tables in different databases.
async fn resolve_organizations(state: &AppState, filter: &mut UserFilter) -> Result<(), ApiError> {
    if !filter.organization_ids.is_empty() {
        let members = orgs::service::member_user_ids(
            state,
            org_ids(std::mem::take(&mut filter.organization_ids)),
            MAX_WITHIN,
        )
        .await?;
        restrict_to(filter, members.into_iter().map(String::from).collect());
    }
    if !filter.excluded_organization_ids.is_empty() {
        let members = orgs::service::member_user_ids(
            state,
            org_ids(std::mem::take(&mut filter.excluded_organization_ids)),
            MAX_WITHIN,
        )
        .await?;
        filter
            .excluded_user_ids
            .extend(members.into_iter().map(String::from));
    }
    Ok(())
}

/// The filter's organization ids (query parameters) as the orgs service
/// takes them.
fn org_ids(raw: Vec<String>) -> Vec<OrganizationId> {
    raw.into_iter().map(OrganizationId::from).collect()
}

/// Narrows `filter` to `ids` (intersecting any restriction already set).
fn restrict_to(filter: &mut UserFilter, ids: Vec<String>) {
    filter.within = Some(match filter.within.take() {
        None => ids,
        Some(current) => {
            let keep: HashSet<String> = ids.into_iter().collect();
            current.into_iter().filter(|id| keep.contains(id)).collect()
        }
    });
}

/// `GET /v1/users`.
pub async fn list_users(
    state: &AppState,
    params: ListUsersParams,
) -> Result<Vec<UserObject>, ApiError> {
    let mut filter = params.filter()?;
    let order = params.order()?;
    let page = params.pagination()?;
    let cursor = params.cursor(order)?;
    resolve_organizations(state, &mut filter).await?;
    pool(state)
        .run("users.list", move |conn| {
            let cursor = match &cursor {
                None => None,
                Some(id) => Some(store::cursor_of(conn, id)?.ok_or_else(|| {
                    ApiError::param_value("starting_after", "starting_after names no user.")
                })?),
            };
            let rows = store::list_users(conn, &filter, order, page, cursor.as_ref())?;
            with_emails(conn, rows)
        })
        .await
}

/// The ids of the users among `candidates` that match `filter`, in
/// `order`: how the orgs module filters and orders memberships by their
/// users' attributes without reading the users' tables. Over
/// [`MAX_WITHIN`] candidates the request is refused with a 422 naming
/// `param`, the parameter that asked for it.
pub async fn matching_user_ids(
    state: &AppState,
    mut filter: UserFilter,
    order: Order,
    candidates: Vec<UserId>,
    param: &str,
) -> Result<Vec<UserId>, ApiError> {
    if candidates.len() > MAX_WITHIN {
        return Err(ApiError::param_value(
            param,
            format!("{param} by user attributes is limited to lists of {MAX_WITHIN} members."),
        ));
    }
    resolve_organizations(state, &mut filter).await?;
    restrict_to(
        &mut filter,
        candidates.into_iter().map(String::from).collect(),
    );
    let ids = pool(state)
        .run("users.matching_ids", move |conn| {
            store::matching_ids(conn, &filter, order).map_err(ApiError::from)
        })
        .await?;
    Ok(ids.into_iter().map(UserId::from).collect())
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
    let mut users: Vec<UserObject> = rows
        .into_iter()
        .map(|row| {
            let emails = by_user.remove(&row.id).unwrap_or_default();
            UserObject::from_rows(row, emails, now)
        })
        .collect();
    crate::modules::users::enterprise::attach(conn, &mut users)?;
    crate::modules::users::social::attach(conn, &mut users)?;
    Ok(users)
}

/// `GET /v1/users/count`.
pub async fn count_users(
    state: &AppState,
    params: ListUsersParams,
) -> Result<TotalCount, ApiError> {
    let mut filter = params.filter()?;
    resolve_organizations(state, &mut filter).await?;
    let total = pool(state)
        .run("users.count", move |conn| {
            store::count_users(conn, &filter).map_err(ApiError::from)
        })
        .await?;
    Ok(TotalCount::new(total))
}

/// `GET /v1/users/{id}`.
pub async fn get_user(state: &AppState, id: UserId) -> Result<UserObject, ApiError> {
    pool(state)
        .run("users.get", move |conn| {
            let row = load(conn, id.as_str())?;
            to_object(conn, row)
        })
        .await
}
