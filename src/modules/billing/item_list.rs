//! `GET /v1/billing/subscription_items`: every payer's items, filtered as
//! Clerk's spec lists (`status` including `free_trial`, `payer_type`,
//! `plan_id`, `include_free`, `query`), newest first.

use diesel::prelude::*;

use super::plans::model::PayerType;
use super::pool;
use super::schema::billing_subscription_items as items;
use super::schema::{billing_payers as payers, billing_plans as plans};
use super::subscriptions::model::{status, ItemRow};
use super::subscriptions::objects::{self, ItemObject};
use crate::db::MultiBackend;
use crate::http::{ApiError, Pagination};
use crate::state::AppState;

diesel::define_sql_function! {
    /// SQL `lower()` on a non-null text.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// SQL `lower()` on a nullable text.
    #[sql_name = "lower"]
    fn lower_opt(text: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Which items a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// The statuses an item may have, and whether it must be in a trial.
    pub statuses: Option<(Vec<&'static str>, bool)>,
    pub payer_type: Option<PayerType>,
    pub plan_id: Option<String>,
    /// Items of free plans (the default plan) too.
    pub include_free: bool,
    /// Part of the payer's email, user or organization id, or of the
    /// plan's name or slug (lower-cased).
    pub query: Option<String>,
}

impl ItemFilter {
    /// The spec's `status` values. `active` and `free_trial` include
    /// canceled items, which keep their access until their period or trial
    /// ends (the spec's list has no `canceled`).
    pub fn status(text: &str) -> Result<Option<(Vec<&'static str>, bool)>, ApiError> {
        Ok(Some(match text {
            "" => return Ok(None),
            "active" => (vec![status::ACTIVE, status::CANCELED], false),
            "free_trial" => (vec![status::ACTIVE, status::CANCELED], true),
            "past_due" => (vec![status::PAST_DUE], false),
            "ended" => (vec![status::ENDED], false),
            "upcoming" => (vec!["upcoming"], false),
            _ => {
                return Err(ApiError::param_value(
                    "status",
                    "status must be one of active, ended, past_due, upcoming, free_trial.",
                ))
            }
        }))
    }
}

fn filtered(filter: &ItemFilter) -> items::BoxedQuery<'static, MultiBackend> {
    let mut query = items::table.into_boxed();
    if let Some((statuses, trial)) = &filter.statuses {
        query = query.filter(items::status.eq_any(statuses.clone()));
        if *trial {
            query = query.filter(items::is_free_trial.eq(true));
        }
    }
    if let Some(payer_type) = filter.payer_type {
        let orgs = payers::table
            .filter(payers::organization_id.is_not_null())
            .select(payers::id);
        query = match payer_type {
            PayerType::Org => query.filter(items::payer_id.eq_any(orgs)),
            PayerType::User => query.filter(items::payer_id.ne_all(orgs)),
        };
    }
    if let Some(plan_id) = &filter.plan_id {
        query = query.filter(items::plan_id.eq(plan_id.clone()));
    }
    if !filter.include_free {
        query = query.filter(items::amount.gt(0));
    }
    if let Some(text) = &filter.query {
        let pattern = format!("%{}%", text.to_lowercase().replace(['%', '_'], ""));
        let payer_ids = payers::table
            .filter(
                lower_opt(payers::email)
                    .like(pattern.clone())
                    .or(lower_opt(payers::user_id).like(pattern.clone()))
                    .or(lower_opt(payers::organization_id).like(pattern.clone())),
            )
            .select(payers::id);
        let plan_ids = plans::table
            .filter(
                lower(plans::name)
                    .like(pattern.clone())
                    .or(lower(plans::slug).like(pattern)),
            )
            .select(plans::id);
        query = query.filter(
            items::payer_id
                .eq_any(payer_ids)
                .or(items::plan_id.eq_any(plan_ids)),
        );
    }
    query
}

/// A page of items with the total.
pub async fn list(
    state: &AppState,
    filter: ItemFilter,
    page: Pagination,
) -> Result<(Vec<ItemObject>, i64), ApiError> {
    let instance_id = state.instance.id.clone();
    pool(state)
        .run("billing.items.list", move |conn| {
            let total: i64 = filtered(&filter).count().get_result(conn)?;
            let rows: Vec<ItemRow> = filtered(&filter)
                .order((items::created_at.desc(), items::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(ItemRow::as_select())
                .load(conn)?;
            Ok((
                objects::item_objects(conn, &instance_id, &rows, true)?,
                total,
            ))
        })
        .await
}
