//! Payers' cards: rows and Clerk's `commerce_payment_method` object. Stripe
//! holds the card; Steward keeps what the API shows and the
//! PaymentMethod id it charges.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::billing_payment_methods;
use crate::db::DbConnection;

/// A `billing_payment_methods` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = billing_payment_methods, treat_none_as_null = true)]
pub struct PaymentMethodRow {
    pub id: String,
    pub payer_id: String,
    pub gateway: String,
    pub gateway_external_id: String,
    pub card_type: Option<String>,
    pub last4: Option<String>,
    pub expiry_month: Option<i32>,
    pub expiry_year: Option<i32>,
    pub fingerprint: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's `commerce_payment_method` object.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentMethodObject {
    pub object: &'static str,
    pub id: String,
    pub payer_id: String,
    pub payment_type: &'static str,
    pub is_default: bool,
    pub gateway: String,
    pub gateway_external_id: String,
    pub gateway_external_account_id: Option<String>,
    pub last4: Option<String>,
    pub status: String,
    pub wallet_type: Option<String>,
    pub card_type: Option<String>,
    pub expiry_year: Option<i32>,
    pub expiry_month: Option<i32>,
    pub is_removable: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PaymentMethodObject {
    /// `default_id`: the payer's default payment method. The default card
    /// of a payer with a paid item cannot be removed.
    pub fn new(row: &PaymentMethodRow, default_id: Option<&str>, removable: bool) -> Self {
        Self {
            object: "commerce_payment_method",
            id: row.id.clone(),
            payer_id: row.payer_id.clone(),
            payment_type: "card",
            is_default: default_id == Some(row.id.as_str()),
            gateway: row.gateway.clone(),
            gateway_external_id: row.gateway_external_id.clone(),
            gateway_external_account_id: None,
            last4: row.last4.clone(),
            status: row.status.clone(),
            wallet_type: None,
            card_type: row.card_type.clone(),
            expiry_year: row.expiry_year,
            expiry_month: row.expiry_month,
            is_removable: removable,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<PaymentMethodRow>> {
    billing_payment_methods::table
        .find(id)
        .select(PaymentMethodRow::as_select())
        .first(conn)
        .optional()
}

/// A payer's active cards, oldest first.
pub fn active_of(conn: &mut DbConnection, payer_id: &str) -> QueryResult<Vec<PaymentMethodRow>> {
    billing_payment_methods::table
        .filter(billing_payment_methods::payer_id.eq(payer_id))
        .filter(billing_payment_methods::status.eq("active"))
        .order((
            billing_payment_methods::created_at,
            billing_payment_methods::id,
        ))
        .select(PaymentMethodRow::as_select())
        .load(conn)
}
