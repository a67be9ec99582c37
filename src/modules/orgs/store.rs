//! Queries for organizations, memberships, roles, permissions and settings.

use diesel::prelude::*;

use super::model::{MembershipRow, OrganizationRow, RoleRow};
use crate::db::schema::{
    organization_deleted_users as deleted_users, organization_memberships as memberships,
    organization_permissions as permissions, organization_role_permissions as role_permissions,
    organization_roles as roles, organization_settings as settings, organizations,
};
use crate::db::{on_backend, DbConnection, MultiBackend};
use crate::http::Pagination;

/// An `organization_permissions` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = permissions, treat_none_as_null = true)]
pub struct PermissionRow {
    pub id: String,
    pub permission_key: String,
    pub name: String,
    pub description: Option<String>,
    pub is_system: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The `organization_settings` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = settings)]
pub struct SettingsRow {
    pub id: String,
    pub enabled: bool,
    pub max_allowed_memberships: i32,
    pub creator_role: String,
    pub default_role: String,
    pub admin_delete_enabled: bool,
    pub updated_at: i64,
}

pub fn find_org(conn: &mut DbConnection, id_or_slug: &str) -> QueryResult<Option<OrganizationRow>> {
    organizations::table
        .filter(
            organizations::id
                .eq(id_or_slug)
                .or(organizations::slug.eq(id_or_slug)),
        )
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()
}

/// The organization `id_or_slug`, locked until the transaction ends, for
/// the rules that count an organization's rows before writing one (the
/// last admin, the membership limit, one pending invitation per address).
/// On PostgreSQL the row lock (`FOR NO KEY UPDATE`: it still lets other
/// transactions insert rows that reference the organization) serialises
/// those rules per organization; two transactions that both counted before
/// either wrote could otherwise both pass. SQLite needs no lock: its
/// `BEGIN IMMEDIATE` (`db::write_transaction`) already serialises writers.
pub fn lock_org(conn: &mut DbConnection, id_or_slug: &str) -> QueryResult<Option<OrganizationRow>> {
    let by_id_or_slug = organizations::id
        .eq(id_or_slug)
        .or(organizations::slug.eq(id_or_slug));
    match conn {
        DbConnection::Pg(pg) => organizations::table
            .filter(by_id_or_slug)
            .select(OrganizationRow::as_select())
            .for_no_key_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => organizations::table
            .filter(by_id_or_slug)
            .select(OrganizationRow::as_select())
            .first(sqlite)
            .optional(),
    }
}

pub fn slug_taken(conn: &mut DbConnection, slug: &str, except_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        organizations::table
            .filter(organizations::slug.eq(slug))
            .filter(organizations::id.ne(except_id)),
    ))
    .get_result(conn)
}

pub fn insert_org(conn: &mut DbConnection, row: &OrganizationRow) -> QueryResult<()> {
    diesel::insert_into(organizations::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save_org(conn: &mut DbConnection, row: &OrganizationRow) -> QueryResult<()> {
    diesel::update(organizations::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

/// Deletes the organization; memberships go with it (ON DELETE CASCADE).
pub fn delete_org(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(organizations::table.find(id))
        .execute(conn)
        .map(drop)
}

pub fn members_count(conn: &mut DbConnection, org_id: &str) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::organization_id.eq(org_id))
        .count()
        .get_result(conn)
}

pub fn find_membership(
    conn: &mut DbConnection,
    org_id: &str,
    user_id: &str,
) -> QueryResult<Option<MembershipRow>> {
    memberships::table
        .filter(memberships::organization_id.eq(org_id))
        .filter(memberships::user_id.eq(user_id))
        .select(MembershipRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_membership(conn: &mut DbConnection, row: &MembershipRow) -> QueryResult<()> {
    diesel::insert_into(memberships::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save_membership(conn: &mut DbConnection, row: &MembershipRow) -> QueryResult<()> {
    diesel::update(memberships::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

pub fn delete_membership(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(memberships::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Takes the per-user lock that orders [`record_deleted_user`] and
/// [`user_deleted`] (PostgreSQL; SQLite's writers are serialised anyway),
/// for the rest of the transaction.
pub fn lock_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('orgs.user'), hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(user_id)
            .execute(pg)?;
    }
    Ok(())
}

/// Records that `user_id` is being deleted (again: nothing changes), and
/// forgets records older than `forget_before`.
pub fn record_deleted_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
    forget_before: i64,
) -> QueryResult<()> {
    on_backend!(conn, c => {
        diesel::insert_into(deleted_users::table)
            .values((deleted_users::user_id.eq(user_id), deleted_users::deleted_at.eq(now)))
            .on_conflict_do_nothing()
            .execute(c)?;
        diesel::delete(deleted_users::table.filter(deleted_users::deleted_at.lt(forget_before)))
            .execute(c)
            .map(drop)
    })
}

/// Whether `user_id` has been recorded as deleted.
pub fn user_deleted(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(deleted_users::table.find(user_id))).get_result(conn)
}

/// Deletes every membership of `user_id` and returns them.
pub fn delete_user_memberships(
    conn: &mut DbConnection,
    user_id: &str,
) -> QueryResult<Vec<MembershipRow>> {
    on_backend!(conn, c => {
        diesel::delete(memberships::table.filter(memberships::user_id.eq(user_id)))
            .returning(MembershipRow::as_returning())
            .get_results(c)
    })
}

/// Which memberships a list shows.
#[derive(Debug, Default, Clone)]
pub struct MembershipFilter {
    pub organization_id: Option<String>,
    pub user_ids: Vec<String>,
    pub roles: Vec<String>,
}

fn memberships_filtered(filter: &MembershipFilter) -> memberships::BoxedQuery<'_, MultiBackend> {
    let mut query = memberships::table.into_boxed();
    if let Some(org_id) = &filter.organization_id {
        query = query.filter(memberships::organization_id.eq(org_id));
    }
    if !filter.user_ids.is_empty() {
        query = query.filter(memberships::user_id.eq_any(&filter.user_ids));
    }
    if !filter.roles.is_empty() {
        query = query.filter(memberships::role.eq_any(&filter.roles));
    }
    query
}

pub fn list_memberships(
    conn: &mut DbConnection,
    filter: &MembershipFilter,
    page: Pagination,
) -> QueryResult<Vec<MembershipRow>> {
    memberships_filtered(filter)
        .select(MembershipRow::as_select())
        .order((memberships::created_at.asc(), memberships::id.asc()))
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)
}

pub fn count_memberships(conn: &mut DbConnection, filter: &MembershipFilter) -> QueryResult<i64> {
    memberships_filtered(filter).count().get_result(conn)
}

/// Members of `org_id` whose role holds `permission_key`.
pub fn count_members_with_permission(
    conn: &mut DbConnection,
    org_id: &str,
    permission_key: &str,
) -> QueryResult<i64> {
    let role_keys = roles::table
        .inner_join(role_permissions::table.inner_join(permissions::table))
        .filter(permissions::permission_key.eq(permission_key))
        .select(roles::role_key);
    memberships::table
        .filter(memberships::organization_id.eq(org_id))
        .filter(memberships::role.eq_any(role_keys))
        .count()
        .get_result(conn)
}

pub fn find_role(conn: &mut DbConnection, id_or_key: &str) -> QueryResult<Option<RoleRow>> {
    roles::table
        .filter(roles::id.eq(id_or_key).or(roles::role_key.eq(id_or_key)))
        .select(RoleRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_role(conn: &mut DbConnection, row: &RoleRow) -> QueryResult<()> {
    diesel::insert_into(roles::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save_role(conn: &mut DbConnection, row: &RoleRow) -> QueryResult<()> {
    diesel::update(roles::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

pub fn delete_role(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(roles::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Whether any membership has role `role_key`.
pub fn role_in_use(conn: &mut DbConnection, role_key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        memberships::table.filter(memberships::role.eq(role_key)),
    ))
    .get_result(conn)
}

/// The permissions a role grants, by key order.
pub fn permissions_of_role(
    conn: &mut DbConnection,
    role_id: &str,
) -> QueryResult<Vec<PermissionRow>> {
    role_permissions::table
        .inner_join(permissions::table)
        .filter(role_permissions::role_id.eq(role_id))
        .select(PermissionRow::as_select())
        .order(permissions::permission_key.asc())
        .load(conn)
}

pub fn grant(conn: &mut DbConnection, role_id: &str, permission_id: &str) -> QueryResult<()> {
    let exists: bool = diesel::select(diesel::dsl::exists(
        role_permissions::table
            .filter(role_permissions::role_id.eq(role_id))
            .filter(role_permissions::permission_id.eq(permission_id)),
    ))
    .get_result(conn)?;
    if !exists {
        diesel::insert_into(role_permissions::table)
            .values((
                role_permissions::role_id.eq(role_id),
                role_permissions::permission_id.eq(permission_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn revoke(conn: &mut DbConnection, role_id: &str, permission_id: &str) -> QueryResult<()> {
    diesel::delete(
        role_permissions::table
            .filter(role_permissions::role_id.eq(role_id))
            .filter(role_permissions::permission_id.eq(permission_id)),
    )
    .execute(conn)
    .map(drop)
}

pub fn find_permission(
    conn: &mut DbConnection,
    id_or_key: &str,
) -> QueryResult<Option<PermissionRow>> {
    permissions::table
        .filter(
            permissions::id
                .eq(id_or_key)
                .or(permissions::permission_key.eq(id_or_key)),
        )
        .select(PermissionRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_permission(conn: &mut DbConnection, row: &PermissionRow) -> QueryResult<()> {
    diesel::insert_into(permissions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn save_permission(conn: &mut DbConnection, row: &PermissionRow) -> QueryResult<()> {
    diesel::update(permissions::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

pub fn delete_permission(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(permissions::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Roles that grant permission `permission_id`.
pub fn roles_with_permission(
    conn: &mut DbConnection,
    permission_id: &str,
) -> QueryResult<Vec<String>> {
    role_permissions::table
        .inner_join(roles::table)
        .filter(role_permissions::permission_id.eq(permission_id))
        .select(roles::role_key)
        .load(conn)
}

/// Memberships holding one of `role_keys` (whose claims a change to the role alters).
pub fn memberships_with_roles(
    conn: &mut DbConnection,
    role_keys: &[String],
) -> QueryResult<Vec<MembershipRow>> {
    memberships::table
        .filter(memberships::role.eq_any(role_keys))
        .select(MembershipRow::as_select())
        .load(conn)
}

pub fn load_settings(conn: &mut DbConnection) -> QueryResult<SettingsRow> {
    settings::table
        .find("default")
        .select(SettingsRow::as_select())
        .first(conn)
}

pub fn save_settings(conn: &mut DbConnection, row: &SettingsRow) -> QueryResult<()> {
    diesel::update(settings::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}
