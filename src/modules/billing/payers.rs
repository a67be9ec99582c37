//! Payers: the user or organization a subscription belongs to, with the
//! marks that decide free-trial eligibility.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::billing_payers;
use crate::db::{on_backend, DbConnection};
use crate::ids::{OrganizationId, UserId};

/// Who pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayerRef {
    User(UserId),
    Org(OrganizationId),
}

impl PayerRef {
    pub fn payer_type(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Org(_) => "org",
        }
    }
}

/// A `billing_payers` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = billing_payers, treat_none_as_null = true)]
pub struct PayerRow {
    pub id: String,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub email: Option<String>,
    pub gateway_customer_id: Option<String>,
    pub default_payment_method_id: Option<String>,
    pub first_paid_at: Option<i64>,
    pub first_trial_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PayerRow {
    /// A payer that has paid, or has had a trial, gets no other trial.
    pub fn eligible_for_free_trial(&self) -> bool {
        self.first_paid_at.is_none() && self.first_trial_at.is_none()
    }

    pub fn payer_type(&self) -> &'static str {
        if self.organization_id.is_some() {
            "org"
        } else {
            "user"
        }
    }
}

/// Clerk's `commerce_payer` object.
#[derive(Debug, Clone, Serialize)]
pub struct PayerObject {
    pub object: &'static str,
    pub id: String,
    pub instance_id: String,
    pub user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub organization_id: Option<String>,
    pub organization_name: Option<String>,
    pub image_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PayerObject {
    pub fn new(row: &PayerRow, instance_id: &str) -> Self {
        Self {
            object: "commerce_payer",
            id: row.id.clone(),
            instance_id: instance_id.to_owned(),
            user_id: row.user_id.clone(),
            first_name: None,
            last_name: None,
            email: row.email.clone(),
            organization_id: row.organization_id.clone(),
            organization_name: None,
            image_url: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The payer row of `payer`, if it exists.
pub fn find(conn: &mut DbConnection, payer: &PayerRef) -> QueryResult<Option<PayerRow>> {
    let query = billing_payers::table.select(PayerRow::as_select());
    match payer {
        PayerRef::User(id) => query
            .filter(billing_payers::user_id.eq(id.as_str()))
            .first(conn)
            .optional(),
        PayerRef::Org(id) => query
            .filter(billing_payers::organization_id.eq(id.as_str()))
            .first(conn)
            .optional(),
    }
}

/// The payer row of `payer`, made if missing. Two concurrent first calls
/// make one row (the insert yields on the unique user or organization).
pub fn find_or_create(
    conn: &mut DbConnection,
    payer: &PayerRef,
    now: i64,
) -> QueryResult<PayerRow> {
    if let Some(row) = find(conn, payer)? {
        return Ok(row);
    }
    let (user_id, organization_id) = match payer {
        PayerRef::User(id) => (Some(id.to_string()), None),
        PayerRef::Org(id) => (None, Some(id.to_string())),
    };
    let row = PayerRow {
        id: crate::crypto::ids::new_id("cpayer"),
        user_id,
        organization_id,
        email: None,
        gateway_customer_id: None,
        default_payment_method_id: None,
        first_paid_at: None,
        first_trial_at: None,
        created_at: now,
        updated_at: now,
    };
    on_backend!(conn, c => diesel::insert_into(billing_payers::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    find(conn, payer)?.ok_or(diesel::result::Error::NotFound)
}

/// The payer row `id`, locked until the transaction ends on PostgreSQL:
/// eligibility checks and the start of a trial or paid period happen
/// under it, so two checkouts of one payer cannot both take a trial.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<PayerRow> {
    match conn {
        DbConnection::Pg(pg) => billing_payers::table
            .find(id)
            .select(PayerRow::as_select())
            .for_update()
            .first(pg),
        DbConnection::Sqlite(sqlite) => billing_payers::table
            .find(id)
            .select(PayerRow::as_select())
            .first(sqlite),
    }
}

pub fn get(conn: &mut DbConnection, id: &str) -> QueryResult<PayerRow> {
    billing_payers::table
        .find(id)
        .select(PayerRow::as_select())
        .first(conn)
}
