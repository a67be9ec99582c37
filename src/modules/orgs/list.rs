//! The orgs module's Backend API lists with the filters and orderings of
//! Clerk's spec: `order_by` parsing, organizations, role and permission
//! search, membership lists filtered or ordered by their users' attributes,
//! and the members behind the users list's `organization_id` filter.

use std::collections::HashMap;

use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::model::{MembershipRow, OrganizationRow, RoleRow};
use super::service::{load_org, pool, MANAGE_MEMBERS};
use super::store::{self, MembershipFilter, PermissionRow};
use crate::db::schema::{
    organization_memberships as memberships, organization_permissions as permissions,
    organization_roles as roles, organizations,
};
use crate::db::{contains_pattern, DbConnection, MultiBackend};
use crate::http::{ApiError, Pagination};
use crate::ids::{OrganizationId, UserId};
use crate::modules::users::service::{self as users, UserFilter, UserOrder};
use crate::state::AppState;

/// Longest search string accepted.
const MAX_QUERY_LEN: usize = 256;
/// Most memberships a list filtered or ordered by user attributes reads.
const MAX_MEMBERSHIPS: i64 = 10_000;

/// A validated `order_by`: one of the list's fields, and the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: &'static str,
    pub descending: bool,
}

impl Sort {
    /// Parses Clerk's `+field`, `-field` or `field` (ascending) against the
    /// fields a list allows. A leading space is a `+` that arrived
    /// unescaped. `None` when the parameter is absent.
    pub fn parse(raw: Option<&str>, allowed: &[&'static str]) -> Result<Option<Self>, ApiError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let (descending, name) = match raw.as_bytes().first() {
            Some(b'-') => (true, &raw[1..]),
            Some(b'+') | Some(b' ') => (false, &raw[1..]),
            _ => (false, raw),
        };
        let field = allowed.iter().find(|f| **f == name).ok_or_else(|| {
            ApiError::param_value(
                "order_by",
                format!(
                    "order_by must be one of {}, with an optional + or - prefix.",
                    allowed.join(", ")
                ),
            )
        })?;
        Ok(Some(Self { field, descending }))
    }
}

/// A search string, trimmed; `None` when empty. Kept as given: ids match
/// exactly, names and keys case-insensitively.
pub fn search_text(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        Some(text) if text.chars().count() > MAX_QUERY_LEN => {
            Err(ApiError::param_too_long("query", MAX_QUERY_LEN))
        }
        Some(text) if !text.is_empty() => Ok(Some(text.to_owned())),
        _ => Ok(None),
    }
}

/// A role or permission list request: search text, order and page.
#[derive(Debug, Clone)]
pub struct RoleSearch {
    pub query: Option<String>,
    pub sort: Option<Sort>,
    pub page: Pagination,
}

diesel::define_sql_function! {
    /// SQL `lower()` on a non-null text.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

fn roles_matching(query: Option<&str>) -> roles::BoxedQuery<'_, MultiBackend> {
    let mut boxed = roles::table.into_boxed();
    if let Some(text) = query {
        let pattern = contains_pattern(&text.to_lowercase());
        boxed = boxed.filter(
            roles::id
                .eq(text)
                .or(lower(roles::role_key).like(pattern.clone()).escape('\\'))
                .or(lower(roles::name).like(pattern).escape('\\')),
        );
    }
    boxed
}

/// A page of roles matching `query` (exact id, or part of the key or the
/// name), in `sort` order; newest first without one, the spec's default.
pub fn list_roles(
    conn: &mut DbConnection,
    search: &RoleSearch,
) -> QueryResult<(Vec<RoleRow>, i64)> {
    let (query, sort, page) = (search.query.as_deref(), search.sort, search.page);
    let boxed = roles_matching(query).select(RoleRow::as_select());
    let sort = sort.unwrap_or(Sort {
        field: "created_at",
        descending: true,
    });
    macro_rules! by {
        ($col:expr) => {
            if sort.descending {
                boxed.order(($col.desc(), roles::id.desc()))
            } else {
                boxed.order(($col.asc(), roles::id.asc()))
            }
        };
    }
    let boxed = match sort.field {
        "name" => by!(roles::name),
        "key" => by!(roles::role_key),
        _ => by!(roles::created_at),
    };
    let rows = boxed.limit(page.limit).offset(page.offset).load(conn)?;
    let total = roles_matching(query).count().get_result(conn)?;
    Ok((rows, total))
}

fn permissions_matching(query: Option<&str>) -> permissions::BoxedQuery<'_, MultiBackend> {
    let mut boxed = permissions::table.into_boxed();
    if let Some(text) = query {
        let pattern = contains_pattern(&text.to_lowercase());
        boxed = boxed.filter(
            permissions::id
                .eq(text)
                .or(lower(permissions::permission_key)
                    .like(pattern.clone())
                    .escape('\\'))
                .or(lower(permissions::name).like(pattern).escape('\\')),
        );
    }
    boxed
}

/// A page of permissions matching `query` (exact id, or part of the key or
/// the name), in `sort` order; without one, system permissions first, then
/// by key.
pub fn list_permissions(
    conn: &mut DbConnection,
    search: &RoleSearch,
) -> QueryResult<(Vec<PermissionRow>, i64)> {
    let (query, sort, page) = (search.query.as_deref(), search.sort, search.page);
    let boxed = permissions_matching(query).select(PermissionRow::as_select());
    let boxed = match sort {
        None => boxed.order((
            permissions::is_system.desc(),
            permissions::permission_key.asc(),
        )),
        Some(sort) => {
            macro_rules! by {
                ($col:expr) => {
                    if sort.descending {
                        boxed.order(($col.desc(), permissions::id.desc()))
                    } else {
                        boxed.order(($col.asc(), permissions::id.asc()))
                    }
                };
            }
            match sort.field {
                "name" => by!(permissions::name),
                "key" => by!(permissions::permission_key),
                _ => by!(permissions::created_at),
            }
        }
    };
    let rows = boxed.limit(page.limit).offset(page.offset).load(conn)?;
    let total = permissions_matching(query).count().get_result(conn)?;
    Ok((rows, total))
}

/// Filters of `GET /v1/organizations`.
#[derive(Debug, Default, Clone)]
pub struct OrgFilter {
    /// Exact id, or part of the name or slug.
    pub query: Option<String>,
    /// Organizations with any of these members…
    pub user_ids: Vec<String>,
    /// …and none of these.
    pub excluded_user_ids: Vec<String>,
    pub organization_ids: Vec<String>,
}

fn orgs_matching(filter: &OrgFilter) -> organizations::BoxedQuery<'_, MultiBackend> {
    let mut boxed = organizations::table.into_boxed();
    if let Some(text) = &filter.query {
        let pattern = contains_pattern(&text.to_lowercase());
        boxed = boxed.filter(
            organizations::id
                .eq(text)
                .or(lower(organizations::slug)
                    .like(pattern.clone())
                    .escape('\\'))
                .or(lower(organizations::name).like(pattern).escape('\\')),
        );
    }
    if !filter.organization_ids.is_empty() {
        boxed = boxed.filter(organizations::id.eq_any(&filter.organization_ids));
    }
    if !filter.user_ids.is_empty() {
        boxed = boxed.filter(
            organizations::id.eq_any(
                memberships::table
                    .filter(memberships::user_id.eq_any(&filter.user_ids))
                    .select(memberships::organization_id),
            ),
        );
    }
    if !filter.excluded_user_ids.is_empty() {
        boxed = boxed.filter(
            organizations::id.ne_all(
                memberships::table
                    .filter(memberships::user_id.eq_any(&filter.excluded_user_ids))
                    .select(memberships::organization_id),
            ),
        );
    }
    boxed
}

/// What an organization list adds to each organization.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    /// `members_count`.
    pub members_count: bool,
    /// `missing_member_with_elevated_permissions`: whether no member can
    /// manage the organization's members.
    pub missing_admin: bool,
}

/// An organization in a list, with what [`ListOptions`] asked for.
#[derive(Debug, Clone)]
pub struct ListedOrganization {
    pub org: OrganizationRow,
    pub members_count: Option<i64>,
    pub missing_admin: Option<bool>,
}

/// The number of members, for ordering by `members_count`.
fn members_count_expr() -> SqlLiteral<BigInt> {
    diesel::dsl::sql(
        "(SELECT COUNT(*) FROM organization_memberships m \
         WHERE m.organization_id = organizations.id)",
    )
}

/// A page of organizations matching `filter` in `sort` order, and the total.
pub async fn list_organizations(
    state: &AppState,
    filter: OrgFilter,
    sort: Sort,
    page: Pagination,
    options: ListOptions,
) -> Result<(Vec<ListedOrganization>, i64), ApiError> {
    pool(state)
        .run("orgs.list", move |conn| {
            let boxed = orgs_matching(&filter).select(OrganizationRow::as_select());
            macro_rules! by {
                ($col:expr) => {
                    if sort.descending {
                        boxed.order(($col.desc(), organizations::id.desc()))
                    } else {
                        boxed.order(($col.asc(), organizations::id.asc()))
                    }
                };
            }
            let boxed = match sort.field {
                "name" => by!(organizations::name),
                "members_count" => by!(members_count_expr()),
                _ => by!(organizations::created_at),
            };
            let mut listed = Vec::new();
            for org in boxed.limit(page.limit).offset(page.offset).load(conn)? {
                let members_count = if options.members_count {
                    Some(store::members_count(conn, &org.id)?)
                } else {
                    None
                };
                let missing_admin = if options.missing_admin {
                    Some(store::count_members_with_permission(conn, &org.id, MANAGE_MEMBERS)? == 0)
                } else {
                    None
                };
                listed.push(ListedOrganization {
                    org,
                    members_count,
                    missing_admin,
                });
            }
            let total: i64 = orgs_matching(&filter).count().get_result(conn)?;
            Ok::<_, ApiError>((listed, total))
        })
        .await
}

/// Whether no member of `org_id` can manage its members.
pub async fn missing_admin(state: &AppState, org_id: OrganizationId) -> Result<bool, ApiError> {
    pool(state)
        .run("orgs.missing_admin", move |conn| {
            Ok::<_, ApiError>(
                store::count_members_with_permission(conn, org_id.as_str(), MANAGE_MEMBERS)? == 0,
            )
        })
        .await
}

fn memberships_matching(filter: &MembershipFilter) -> memberships::BoxedQuery<'_, MultiBackend> {
    let mut boxed = memberships::table.into_boxed();
    if let Some(org_id) = &filter.organization_id {
        boxed = boxed.filter(memberships::organization_id.eq(org_id));
    }
    if !filter.user_ids.is_empty() {
        boxed = boxed.filter(memberships::user_id.eq_any(&filter.user_ids));
    }
    if !filter.roles.is_empty() {
        boxed = boxed.filter(memberships::role.eq_any(&filter.roles));
    }
    boxed
}

/// How a membership list is narrowed and ordered by its users, through the
/// users service (the users' tables may be on another database).
#[derive(Debug, Clone)]
pub struct ByUsers {
    pub filter: UserFilter,
    /// The user attribute to order by; `None` keeps the membership order.
    pub order: Option<UserOrder>,
    /// The parameter named if the list is too long to filter this way.
    pub param: &'static str,
}

/// A page of memberships matching `filter` and the total, newest first when
/// `descending`, else oldest first; narrowed and ordered by `by_users` when
/// given.
pub async fn list_memberships(
    state: &AppState,
    filter: MembershipFilter,
    descending: bool,
    by_users: Option<ByUsers>,
    page: Pagination,
) -> Result<(Vec<MembershipRow>, i64), ApiError> {
    let limit = if by_users.is_some() {
        // Every candidate is read; one more tells a list that is too long.
        Pagination {
            limit: MAX_MEMBERSHIPS + 1,
            offset: 0,
        }
    } else {
        page
    };
    let (rows, total) = pool(state)
        .run("orgs.list_memberships_sorted", move |conn| {
            if let Some(org_id) = &filter.organization_id {
                load_org(conn, org_id)?;
            }
            let boxed = memberships_matching(&filter).select(MembershipRow::as_select());
            let boxed = if descending {
                boxed.order((memberships::created_at.desc(), memberships::id.desc()))
            } else {
                boxed.order((memberships::created_at.asc(), memberships::id.asc()))
            };
            let rows = boxed.limit(limit.limit).offset(limit.offset).load(conn)?;
            let total: i64 = memberships_matching(&filter).count().get_result(conn)?;
            Ok::<_, ApiError>((rows, total))
        })
        .await?;
    let Some(by_users) = by_users else {
        return Ok((rows, total));
    };
    if total > MAX_MEMBERSHIPS {
        return Err(ApiError::param_value(
            by_users.param,
            format!(
                "{} by user attributes is limited to lists of {MAX_MEMBERSHIPS} memberships.",
                by_users.param
            ),
        ));
    }
    let mut candidates: Vec<UserId> = rows
        .iter()
        .map(|r| UserId::from(r.user_id.clone()))
        .collect();
    candidates.sort();
    candidates.dedup();
    let ids = users::matching_user_ids(
        state,
        by_users.filter,
        by_users.order.unwrap_or_default(),
        candidates,
        by_users.param,
    )
    .await?;
    let rank: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut kept: Vec<(usize, MembershipRow)> = rows
        .into_iter()
        .filter_map(|row| rank.get(row.user_id.as_str()).map(|r| (*r, row)))
        .collect();
    if by_users.order.is_some() {
        // Stable: one user's memberships keep the membership order.
        kept.sort_by_key(|(r, _)| *r);
    }
    let total = i64::try_from(kept.len()).unwrap_or(i64::MAX);
    let start = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let count = usize::try_from(page.limit).unwrap_or(0);
    let data = kept
        .into_iter()
        .skip(start)
        .take(count)
        .map(|(_, row)| row)
        .collect();
    Ok((data, total))
}

/// The distinct users that are members of any of `org_ids` (unknown ids
/// match nothing): how the users module filters users by organization
/// without reading this module's tables. Over `max` users the request is
/// refused with a 422 naming `organization_id`.
pub async fn member_user_ids(
    state: &AppState,
    org_ids: Vec<OrganizationId>,
    max: usize,
) -> Result<Vec<UserId>, ApiError> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX - 1) + 1;
    let org_ids: Vec<String> = org_ids.into_iter().map(String::from).collect();
    let ids: Vec<String> = pool(state)
        .run("orgs.member_user_ids", move |conn| {
            memberships::table
                .filter(memberships::organization_id.eq_any(&org_ids))
                .select(memberships::user_id)
                .distinct()
                .order(memberships::user_id.asc())
                .limit(limit)
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    if ids.len() > max {
        return Err(ApiError::param_value(
            "organization_id",
            format!("organization_id is limited to organizations with {max} members in all."),
        ));
    }
    Ok(ids.into_iter().map(UserId::from).collect())
}
