//! Plans' prices (Clerk's `commerce_price`): `GET /v1/billing/prices` and
//! `POST /v1/billing/prices`. A plan's default price is what a new
//! checkout pays, and the plan's fee mirrors it; a new price becomes the
//! default. Subscription items keep the amount they started with.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::store;
use crate::db::{write_transaction, DbConnection, MultiBackend};
use crate::http::{ApiError, Pagination};
use crate::modules::billing::money::Money;
use crate::modules::billing::schema::{billing_plans, billing_prices};
use crate::modules::billing::{pool, BillingState};
use crate::state::AppState;

/// A `billing_prices` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = billing_prices)]
pub struct PriceRow {
    pub id: String,
    pub plan_id: String,
    pub currency: String,
    pub amount: i64,
    pub annual_monthly_amount: Option<i64>,
    pub description: Option<String>,
    pub is_default: bool,
    pub created_at: i64,
}

/// Clerk's `commerce_price` object.
#[derive(Debug, Clone, Serialize)]
pub struct PriceObject {
    pub object: &'static str,
    pub id: String,
    pub plan_id: String,
    pub instance_id: String,
    pub currency: String,
    pub currency_symbol: String,
    pub amount: i64,
    pub annual_monthly_amount: i64,
    pub fee: Money,
    pub annual_monthly_fee: Option<Money>,
    pub description: Option<String>,
    pub is_default: bool,
    pub created_at: i64,
    /// `month`, or `both` when it can be paid yearly too.
    pub supported_billing_periods: &'static str,
}

impl PriceObject {
    pub fn new(row: &PriceRow, instance_id: &str) -> Self {
        let fee = Money::new(row.amount, &row.currency);
        Self {
            object: "commerce_price",
            id: row.id.clone(),
            plan_id: row.plan_id.clone(),
            instance_id: instance_id.to_owned(),
            currency: row.currency.clone(),
            currency_symbol: fee.currency_symbol.clone(),
            amount: row.amount,
            annual_monthly_amount: row.annual_monthly_amount.unwrap_or(0),
            fee,
            annual_monthly_fee: row
                .annual_monthly_amount
                .map(|amount| Money::new(amount, &row.currency)),
            description: row.description.clone(),
            is_default: row.is_default,
            created_at: row.created_at,
            supported_billing_periods: if row.annual_monthly_amount.is_some() {
                "both"
            } else {
                "month"
            },
        }
    }
}

/// Makes a new default price for `plan_id` from its fee columns, the
/// others no longer default (a plan created, or its fee changed).
pub fn record_default(
    conn: &mut DbConnection,
    plan_id: &str,
    description: Option<String>,
    now: i64,
) -> QueryResult<PriceRow> {
    let (currency, amount, annual): (String, i64, Option<i64>) = billing_plans::table
        .find(plan_id)
        .select((
            billing_plans::currency,
            billing_plans::fee_amount,
            billing_plans::annual_fee_amount,
        ))
        .first(conn)?;
    diesel::update(billing_prices::table.filter(billing_prices::plan_id.eq(plan_id)))
        .set(billing_prices::is_default.eq(false))
        .execute(conn)?;
    let row = PriceRow {
        id: crate::crypto::ids::new_id("cprice"),
        plan_id: plan_id.to_owned(),
        currency,
        amount,
        annual_monthly_amount: annual.map(|yearly| yearly / 12),
        description,
        is_default: true,
        created_at: now,
    };
    diesel::insert_into(billing_prices::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// `GET /v1/billing/prices`: by amount, then newest first.
pub async fn list(
    state: &AppState,
    plan_id: Option<String>,
    page: Pagination,
) -> Result<(Vec<PriceObject>, i64), ApiError> {
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.prices.list", move |conn| {
            if let Some(plan_id) = &plan_id {
                store::find(conn, plan_id)?
                    .filter(|plan| plan.row.id == *plan_id)
                    .ok_or_else(|| ApiError::not_found("plan").with_param("plan_id"))?;
            }
            let query = || {
                let mut query: billing_prices::BoxedQuery<'_, MultiBackend> =
                    billing_prices::table.into_boxed();
                if let Some(plan_id) = &plan_id {
                    query = query.filter(billing_prices::plan_id.eq(plan_id.clone()));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<PriceRow> = query()
                .order((
                    billing_prices::amount,
                    billing_prices::created_at.desc(),
                    billing_prices::id.desc(),
                ))
                .limit(page.limit)
                .offset(page.offset)
                .select(PriceRow::as_select())
                .load(conn)?;
            Ok((
                rows.iter()
                    .map(|row| PriceObject::new(row, &instance_id))
                    .collect(),
                total,
            ))
        })
        .await
}

/// `POST /v1/billing/prices` (JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    pub plan_id: String,
    pub currency: Option<String>,
    /// Minor units; 0 is complimentary, otherwise at least 100.
    pub amount: i64,
    pub annual_monthly_amount: Option<i64>,
    pub description: Option<String>,
}

/// A new default price for a plan in use: new checkouts pay it.
pub async fn create(state: &AppState, input: NewPrice) -> Result<PriceObject, ApiError> {
    let billing = BillingState::of(state)?;
    let currency = input
        .currency
        .clone()
        .unwrap_or_else(|| billing.settings.currency.clone());
    if currency.to_ascii_uppercase() != billing.settings.currency {
        return Err(ApiError::param_value(
            "currency",
            format!("Prices are in {}.", billing.settings.currency),
        ));
    }
    let valid = |amount: i64| amount == 0 || (100..=100_000_000).contains(&amount);
    if !valid(input.amount) {
        return Err(ApiError::param_value(
            "amount",
            "amount is 0 (complimentary) or from 100 to 100000000 minor units.",
        ));
    }
    if input
        .annual_monthly_amount
        .is_some_and(|amount| !valid(amount))
    {
        return Err(ApiError::param_value(
            "annual_monthly_amount",
            "annual_monthly_amount is 0 or from 100 to 100000000 minor units.",
        ));
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2048)
    {
        return Err(ApiError::param_too_long("description", 2048));
    }
    let now = billing.clock.now_ms();
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.prices.create", move |conn| {
            let input = input.clone();
            write_transaction(conn, |conn| {
                let plan = store::find(conn, &input.plan_id)?
                    .filter(|plan| plan.row.id == input.plan_id && plan.row.archived_at.is_none())
                    .ok_or_else(|| ApiError::not_found("plan").with_param("plan_id"))?;
                if plan.row.is_default
                    && (input.amount != 0 || input.annual_monthly_amount.unwrap_or(0) != 0)
                {
                    return Err(ApiError::param_value("amount", "The default plan is free."));
                }
                diesel::update(billing_plans::table.find(&plan.row.id))
                    .set((
                        billing_plans::fee_amount.eq(input.amount),
                        billing_plans::annual_fee_amount
                            .eq(input.annual_monthly_amount.map(|m| m * 12)),
                        billing_plans::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                let row = record_default(conn, &plan.row.id, input.description.clone(), now)?;
                Ok(PriceObject::new(&row, &instance_id))
            })
        })
        .await
}
