//! Statements and their payment attempts as Clerk shows them: a
//! `commerce_statement` per payer and month, its totals from what was
//! paid, and its attempts (`commerce_payment`) grouped by day.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::charges::AttemptRow;
use super::money::Money;
use super::payers::{self, PayerObject, PayerRow};
use super::payment_methods::{self, PaymentMethodObject};
use super::pool;
use super::schema::{billing_payment_attempts as attempts, billing_statements as statements};
use super::subscriptions::objects::{self, ItemObject};
use super::subscriptions::store;
use crate::db::DbConnection;
use crate::http::{ApiError, Pagination};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// A `billing_statements` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statements)]
pub struct StatementRow {
    pub id: String,
    pub payer_id: String,
    pub status: String,
    pub currency: String,
    pub timestamp: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `{grand_total, subtotal, base_fee, tax_total}`.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub grand_total: Money,
    pub subtotal: Money,
    pub base_fee: Money,
    pub tax_total: Money,
}

impl Totals {
    fn of(amount: i64, currency: &str) -> Self {
        Self {
            grand_total: Money::new(amount, currency),
            subtotal: Money::new(amount, currency),
            base_fee: Money::new(amount, currency),
            tax_total: Money::new(0, currency),
        }
    }
}

/// Who is paid: Steward's own Stripe account, which has no id of its own
/// here (Clerk's is a Connect account).
#[derive(Debug, Clone, Serialize)]
pub struct Payee {
    pub object: &'static str,
    pub id: String,
    pub gateway_type: &'static str,
    pub gateway_external_id: String,
    pub gateway_status: &'static str,
}

/// Clerk's `commerce_payment` (a payment attempt).
#[derive(Debug, Clone, Serialize)]
pub struct PaymentObject {
    pub object: &'static str,
    pub id: String,
    pub payment_id: String,
    pub instance_id: String,
    pub charge_type: String,
    pub payee_id: String,
    pub payee: Payee,
    pub payer_id: String,
    pub payer: PayerObject,
    pub subscription_item_id: String,
    pub subscription_item: Option<ItemObject>,
    pub amount: Money,
    pub totals: Totals,
    pub payment_method_id: Option<String>,
    pub payment_method: Option<PaymentMethodObject>,
    pub statement_id: String,
    pub gateway_external_id: Option<String>,
    pub gateway_external_url: Option<String>,
    pub status: String,
    pub paid_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub failed_reason: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementGroup {
    pub object: &'static str,
    pub timestamp: i64,
    pub items: Vec<PaymentObject>,
}

/// Clerk's `commerce_statement`.
#[derive(Debug, Clone, Serialize)]
pub struct StatementObject {
    pub object: &'static str,
    pub id: String,
    pub instance_id: String,
    pub timestamp: i64,
    pub payer: PayerObject,
    pub status: String,
    pub totals: Totals,
    pub groups: Vec<StatementGroup>,
}

fn payee(instance_id: &str) -> Payee {
    Payee {
        object: "commerce_payee",
        id: format!("cpayee_{}", instance_id.trim_start_matches("ins_")),
        gateway_type: "stripe",
        gateway_external_id: String::new(),
        gateway_status: "active",
    }
}

/// The objects of `rows`, reading payers, cards and items once each.
fn payment_objects(
    conn: &mut DbConnection,
    instance_id: &str,
    rows: Vec<AttemptRow>,
) -> QueryResult<Vec<PaymentObject>> {
    let mut payers_by_id: HashMap<String, PayerRow> = HashMap::new();
    let mut items_by_id: HashMap<String, Option<ItemObject>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if !payers_by_id.contains_key(&row.payer_id) {
            payers_by_id.insert(row.payer_id.clone(), payers::get(conn, &row.payer_id)?);
        }
        let payer = &payers_by_id[&row.payer_id];
        if !items_by_id.contains_key(&row.subscription_item_id) {
            let item = match store::item(conn, &row.subscription_item_id)? {
                Some(item) => objects::item_objects(conn, instance_id, &[item], false)?.pop(),
                None => None,
            };
            items_by_id.insert(row.subscription_item_id.clone(), item);
        }
        let payment_method = match &row.payment_method_id {
            Some(id) => payment_methods::find(conn, id)?.map(|card| {
                PaymentMethodObject::new(&card, payer.default_payment_method_id.as_deref(), false)
            }),
            None => None,
        };
        let payee = payee(instance_id);
        out.push(PaymentObject {
            object: "commerce_payment",
            id: row.id.clone(),
            payment_id: row.id.clone(),
            instance_id: instance_id.to_owned(),
            charge_type: row.charge_type.clone(),
            payee_id: payee.id.clone(),
            payee,
            payer_id: row.payer_id.clone(),
            payer: PayerObject::new(payer, instance_id),
            subscription_item_id: row.subscription_item_id.clone(),
            subscription_item: items_by_id[&row.subscription_item_id].clone(),
            amount: Money::new(row.amount, &row.currency),
            totals: Totals::of(row.amount, &row.currency),
            payment_method_id: row.payment_method_id.clone(),
            payment_method,
            statement_id: row.statement_id.clone(),
            gateway_external_id: row.gateway_external_id.clone(),
            gateway_external_url: None,
            failed_reason: row
                .failed_code
                .as_ref()
                .map(|code| serde_json::json!({"code": code, "decline_code": row.decline_code})),
            status: row.status,
            paid_at: row.paid_at,
            failed_at: row.failed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        });
    }
    Ok(out)
}

/// A statement's attempts, newest first.
fn attempts_of(conn: &mut DbConnection, statement_id: &str) -> QueryResult<Vec<AttemptRow>> {
    attempts::table
        .filter(attempts::statement_id.eq(statement_id))
        .order((attempts::created_at.desc(), attempts::id.desc()))
        .select(AttemptRow::as_select())
        .load(conn)
}

fn statement_object(
    conn: &mut DbConnection,
    instance_id: &str,
    row: StatementRow,
) -> QueryResult<StatementObject> {
    let payer = payers::get(conn, &row.payer_id)?;
    let rows = attempts_of(conn, &row.id)?;
    let paid: i64 = rows
        .iter()
        .filter(|a| a.status == "paid")
        .map(|a| a.amount)
        .sum();
    let mut groups: Vec<StatementGroup> = Vec::new();
    for payment in payment_objects(conn, instance_id, rows)? {
        let day = payment.created_at - payment.created_at.rem_euclid(DAY_MS);
        match groups.last_mut() {
            Some(group) if group.timestamp == day => group.items.push(payment),
            _ => groups.push(StatementGroup {
                object: "commerce_statement_group",
                timestamp: day,
                items: vec![payment],
            }),
        }
    }
    Ok(StatementObject {
        object: "commerce_statement",
        id: row.id,
        instance_id: instance_id.to_owned(),
        timestamp: row.timestamp,
        payer: PayerObject::new(&payer, instance_id),
        status: row.status,
        totals: Totals::of(paid, &row.currency),
        groups,
    })
}

/// The statements of every payer (`payer_id` `None`) or of one, newest
/// first, with the total.
pub async fn list(
    state: &AppState,
    payer_id: Option<String>,
    page: Pagination,
) -> Result<(Vec<StatementObject>, i64), ApiError> {
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.statements.list", move |conn| {
            let of_payer = || {
                let mut query: statements::BoxedQuery<'_, crate::db::MultiBackend> =
                    statements::table.into_boxed();
                if let Some(payer_id) = &payer_id {
                    query = query.filter(statements::payer_id.eq(payer_id.clone()));
                }
                query
            };
            let total: i64 = of_payer().count().get_result(conn)?;
            let rows = of_payer()
                .order((statements::timestamp.desc(), statements::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(StatementRow::as_select())
                .load(conn)?;
            let objects = rows
                .into_iter()
                .map(|row| statement_object(conn, &instance_id, row))
                .collect::<QueryResult<Vec<_>>>()?;
            Ok((objects, total))
        })
        .await
}

fn find(conn: &mut DbConnection, id: &str) -> Result<StatementRow, ApiError> {
    statements::table
        .find(id)
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("statement"))
}

/// A statement; with `payer_id`, only one of that payer's (404 for others).
pub async fn get(
    state: &AppState,
    payer_id: Option<String>,
    id: String,
) -> Result<StatementObject, ApiError> {
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.statements.get", move |conn| {
            let row = find(conn, &id)?;
            if payer_id
                .as_ref()
                .is_some_and(|payer| *payer != row.payer_id)
            {
                return Err(ApiError::not_found("statement"));
            }
            Ok(statement_object(conn, &instance_id, row)?)
        })
        .await
}

/// A statement's payment attempts, newest first, with the total.
pub async fn payment_attempts(
    state: &AppState,
    id: String,
    page: Pagination,
) -> Result<(Vec<PaymentObject>, i64), ApiError> {
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.statements.payment_attempts", move |conn| {
            let row = find(conn, &id)?;
            let all = attempts_of(conn, &row.id)?;
            let total = all.len() as i64;
            let rows: Vec<AttemptRow> = all
                .into_iter()
                .skip(page.offset as usize)
                .take(page.limit as usize)
                .collect();
            Ok((payment_objects(conn, &instance_id, rows)?, total))
        })
        .await
}

/// One payer's payment attempts, newest first, with the total.
pub async fn payer_payment_attempts(
    state: &AppState,
    payer_id: String,
    page: Pagination,
) -> Result<(Vec<PaymentObject>, i64), ApiError> {
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.payment_attempts.of_payer", move |conn| {
            let of_payer = attempts::table.filter(attempts::payer_id.eq(&payer_id));
            let total: i64 = of_payer.count().get_result(conn)?;
            let rows = of_payer
                .order((attempts::created_at.desc(), attempts::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(AttemptRow::as_select())
                .load(conn)?;
            Ok((payment_objects(conn, &instance_id, rows)?, total))
        })
        .await
}
