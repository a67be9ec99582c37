//! Queries for SAML connections, their domains, outstanding requests and
//! used assertions.

use diesel::prelude::*;

use super::model::{Connection, ConnectionRow};
use super::schema::{
    saml_connection_domains, saml_connections, saml_requests, saml_sp_keys, saml_used_assertions,
};
use crate::db::{on_backend, DbConnection, MultiBackend};

/// Attaches each connection's domains, in their order.
pub fn with_domains(
    conn: &mut DbConnection,
    rows: Vec<ConnectionRow>,
) -> QueryResult<Vec<Connection>> {
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let domains: Vec<(String, String)> = saml_connection_domains::table
        .filter(saml_connection_domains::connection_id.eq_any(&ids))
        .order((
            saml_connection_domains::connection_id,
            saml_connection_domains::position,
        ))
        .select((
            saml_connection_domains::connection_id,
            saml_connection_domains::domain,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let domains = domains
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, domain)| domain.clone())
                .collect();
            Connection { row, domains }
        })
        .collect())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Connection>> {
    let row = saml_connections::table
        .find(id)
        .select(ConnectionRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(row) => with_domains(conn, vec![row])?.pop(),
        None => None,
    })
}

/// The connection `id`, locked for an update on PostgreSQL.
pub fn find_for_update(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Connection>> {
    let row = match conn {
        DbConnection::Pg(pg) => saml_connections::table
            .find(id)
            .select(ConnectionRow::as_select())
            .for_update()
            .first(pg)
            .optional()?,
        DbConnection::Sqlite(_) => {
            return find(conn, id);
        }
    };
    Ok(match row {
        Some(row) => with_domains(conn, vec![row])?.pop(),
        None => None,
    })
}

/// Which connections a list shows.
#[derive(Debug, Default, Clone)]
pub struct ConnectionFilter {
    /// Matched against the name and the domains, case-insensitively.
    pub query: Option<String>,
    pub organization_ids: Vec<String>,
    /// Connections of these organizations are left out (those of no
    /// organization stay).
    pub excluded_organization_ids: Vec<String>,
    /// `created_at` or `name`, with `+` (ascending) or `-`.
    pub order: Order,
}

#[derive(Debug, Default, Clone, Copy)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
    NameAscending,
    NameDescending,
}

fn filtered(filter: &ConnectionFilter) -> saml_connections::BoxedQuery<'static, MultiBackend> {
    let mut query = saml_connections::table.into_boxed();
    if let Some(text) = filter.query.as_ref().filter(|q| !q.is_empty()) {
        let pattern = crate::db::contains_pattern(&text.to_lowercase());
        let by_domain = saml_connection_domains::table
            .filter(
                saml_connection_domains::domain
                    .like(pattern.clone())
                    .escape('\\'),
            )
            .select(saml_connection_domains::connection_id);
        query = query.filter(
            crate::db::lower(saml_connections::name)
                .like(pattern)
                .escape('\\')
                .or(saml_connections::id.eq_any(by_domain)),
        );
    }
    if !filter.organization_ids.is_empty() {
        query =
            query.filter(saml_connections::organization_id.eq_any(filter.organization_ids.clone()));
    }
    if !filter.excluded_organization_ids.is_empty() {
        query = query.filter(saml_connections::organization_id.is_null().or(
            saml_connections::organization_id.ne_all(filter.excluded_organization_ids.clone()),
        ));
    }
    query
}

/// One page of connections and how many match in all.
pub fn list(
    conn: &mut DbConnection,
    filter: &ConnectionFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<Connection>, i64)> {
    let total = filtered(filter).count().get_result(conn)?;
    let query = filtered(filter);
    let query = match filter.order {
        Order::NewestFirst => query.order((
            saml_connections::created_at.desc(),
            saml_connections::id.desc(),
        )),
        Order::OldestFirst => query.order((
            saml_connections::created_at.asc(),
            saml_connections::id.asc(),
        )),
        Order::NameAscending => {
            query.order((saml_connections::name.asc(), saml_connections::id.asc()))
        }
        Order::NameDescending => {
            query.order((saml_connections::name.desc(), saml_connections::id.desc()))
        }
    };
    let rows = query
        .limit(limit)
        .offset(offset)
        .select(ConnectionRow::as_select())
        .load(conn)?;
    Ok((with_domains(conn, rows)?, total))
}

pub fn insert(conn: &mut DbConnection, connection: &Connection) -> QueryResult<()> {
    diesel::insert_into(saml_connections::table)
        .values(&connection.row)
        .execute(conn)?;
    insert_domains(conn, &connection.row.id, &connection.domains)
}

fn insert_domains(conn: &mut DbConnection, id: &str, domains: &[String]) -> QueryResult<()> {
    for (position, domain) in domains.iter().enumerate() {
        diesel::insert_into(saml_connection_domains::table)
            .values((
                saml_connection_domains::domain.eq(domain),
                saml_connection_domains::connection_id.eq(id),
                saml_connection_domains::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Saves the row, and the domains when they changed.
pub fn save(
    conn: &mut DbConnection,
    connection: &Connection,
    domains_changed: bool,
) -> QueryResult<()> {
    diesel::update(saml_connections::table.find(&connection.row.id))
        .set(&connection.row)
        .execute(conn)?;
    if domains_changed {
        diesel::delete(
            saml_connection_domains::table
                .filter(saml_connection_domains::connection_id.eq(&connection.row.id)),
        )
        .execute(conn)?;
        insert_domains(conn, &connection.row.id, &connection.domains)?;
    }
    Ok(())
}

/// The connection that owns one of `domains`, other than `except`.
pub fn domain_owner(
    conn: &mut DbConnection,
    domains: &[String],
    except: Option<&str>,
) -> QueryResult<Option<(String, String)>> {
    let mut query = saml_connection_domains::table
        .filter(saml_connection_domains::domain.eq_any(domains))
        .select((
            saml_connection_domains::domain,
            saml_connection_domains::connection_id,
        ))
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(saml_connection_domains::connection_id.ne(id.to_owned()));
    }
    query.first(conn).optional()
}

/// The connections serving any of `domains` (an email's domain and its
/// parents), with the domain each matched on.
pub fn by_domains(
    conn: &mut DbConnection,
    domains: &[String],
) -> QueryResult<Vec<(String, Connection)>> {
    let matches: Vec<(String, String)> = saml_connection_domains::table
        .filter(saml_connection_domains::domain.eq_any(domains))
        .select((
            saml_connection_domains::domain,
            saml_connection_domains::connection_id,
        ))
        .load(conn)?;
    let mut found = Vec::with_capacity(matches.len());
    for (domain, id) in matches {
        if let Some(connection) = find(conn, &id)? {
            found.push((domain, connection));
        }
    }
    Ok(found)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(saml_used_assertions::table.filter(saml_used_assertions::connection_id.eq(id)))
        .execute(conn)?;
    diesel::delete(saml_requests::table.filter(saml_requests::connection_id.eq(id)))
        .execute(conn)?;
    diesel::delete(
        saml_connection_domains::table.filter(saml_connection_domains::connection_id.eq(id)),
    )
    .execute(conn)?;
    Ok(diesel::delete(saml_connections::table.find(id)).execute(conn)? == 1)
}

/// The instance's SP key row: (sealed private key, certificate PEM).
pub fn sp_key(conn: &mut DbConnection) -> QueryResult<Option<(String, String)>> {
    saml_sp_keys::table
        .find(SP_KEY_ID)
        .select((saml_sp_keys::private_key, saml_sp_keys::certificate_pem))
        .first(conn)
        .optional()
}

/// Replaces the sealed SP key if it is still `current`; true when it did.
pub fn replace_sp_key(conn: &mut DbConnection, current: &str, sealed: &str) -> QueryResult<bool> {
    diesel::update(
        saml_sp_keys::table
            .find(SP_KEY_ID)
            .filter(saml_sp_keys::private_key.eq(current)),
    )
    .set(saml_sp_keys::private_key.eq(sealed))
    .execute(conn)
    .map(|rows| rows == 1)
}

/// The one SP key row's id.
pub const SP_KEY_ID: &str = "current";

/// Stores the SP key unless another process stored one first; the caller
/// reads back whichever won.
pub fn insert_sp_key(
    conn: &mut DbConnection,
    sealed_key: &str,
    certificate_pem: &str,
    now: i64,
) -> QueryResult<()> {
    on_backend!(conn, c => {
        diesel::insert_into(saml_sp_keys::table)
            .values((
                saml_sp_keys::id.eq(SP_KEY_ID),
                saml_sp_keys::private_key.eq(sealed_key),
                saml_sp_keys::certificate_pem.eq(certificate_pem),
                saml_sp_keys::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .map(drop)
    })
}
