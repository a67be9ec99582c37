//! Queries for plans and features.

use diesel::prelude::*;

use super::model::{FeatureRow, Plan, PlanRow};
use crate::db::{DbConnection, MultiBackend};
use crate::http::Pagination;
use crate::modules::billing::schema::{billing_features, billing_plan_features, billing_plans};

/// Attaches each plan's features, in their order.
pub fn with_features(conn: &mut DbConnection, rows: Vec<PlanRow>) -> QueryResult<Vec<Plan>> {
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let links: Vec<(String, FeatureRow)> = billing_plan_features::table
        .inner_join(billing_features::table)
        .filter(billing_plan_features::plan_id.eq_any(&ids))
        .order((
            billing_plan_features::plan_id,
            billing_plan_features::position,
        ))
        .select((billing_plan_features::plan_id, FeatureRow::as_select()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let features = links
                .iter()
                .filter(|(plan_id, _)| *plan_id == row.id)
                .map(|(_, feature)| feature.clone())
                .collect();
            Plan { row, features }
        })
        .collect())
}

/// The plan with this id or slug (archived ones too).
pub fn find(conn: &mut DbConnection, id_or_slug: &str) -> QueryResult<Option<Plan>> {
    let row = billing_plans::table
        .filter(
            billing_plans::id
                .eq(id_or_slug)
                .or(billing_plans::slug.eq(id_or_slug)),
        )
        .select(PlanRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(row) => with_features(conn, vec![row])?.pop(),
        None => None,
    })
}

/// The default (free) plan of a payer type, if one is set.
pub fn default_plan(conn: &mut DbConnection, payer_type: &str) -> QueryResult<Option<Plan>> {
    let row = billing_plans::table
        .filter(billing_plans::payer_type.eq(payer_type))
        .filter(billing_plans::is_default.eq(true))
        .filter(billing_plans::archived_at.is_null())
        .select(PlanRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some(row) => with_features(conn, vec![row])?.pop(),
        None => None,
    })
}

/// Which plans a listing shows.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub payer_type: Option<String>,
    /// Only plans shown to the public (the Frontend API's listing).
    pub publicly_visible_only: bool,
}

/// Plans in use, newest first, with the total.
pub fn list(
    conn: &mut DbConnection,
    filter: &PlanFilter,
    page: Pagination,
) -> QueryResult<(Vec<Plan>, i64)> {
    let query = || {
        let mut query: billing_plans::BoxedQuery<'_, MultiBackend> = billing_plans::table
            .filter(billing_plans::archived_at.is_null())
            .into_boxed();
        if let Some(payer_type) = &filter.payer_type {
            query = query.filter(billing_plans::payer_type.eq(payer_type.clone()));
        }
        if filter.publicly_visible_only {
            query = query.filter(billing_plans::publicly_visible.eq(true));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let rows: Vec<PlanRow> = query()
        .order((billing_plans::created_at.desc(), billing_plans::id.desc()))
        .limit(page.limit)
        .offset(page.offset)
        .select(PlanRow::as_select())
        .load(conn)?;
    Ok((with_features(conn, rows)?, total))
}

/// Replaces a plan's features with `slugs`' features, in that order.
pub fn set_features(
    conn: &mut DbConnection,
    plan_id: &str,
    features: &[FeatureRow],
) -> QueryResult<()> {
    diesel::delete(billing_plan_features::table.filter(billing_plan_features::plan_id.eq(plan_id)))
        .execute(conn)?;
    for (position, feature) in features.iter().enumerate() {
        diesel::insert_into(billing_plan_features::table)
            .values((
                billing_plan_features::plan_id.eq(plan_id),
                billing_plan_features::feature_id.eq(&feature.id),
                billing_plan_features::position.eq(position as i32),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The feature with this slug, made or renamed as described. Concurrent
/// calls for one new slug make one feature (the insert yields on the
/// unique slug).
pub fn upsert_feature(
    conn: &mut DbConnection,
    slug: &str,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> QueryResult<FeatureRow> {
    let fresh = FeatureRow {
        id: crate::crypto::ids::new_id("feat"),
        slug: slug.to_owned(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    crate::db::on_backend!(conn, c => diesel::insert_into(billing_features::table)
        .values(&fresh)
        .on_conflict(billing_features::slug)
        .do_update()
        .set((
            billing_features::name.eq(name),
            billing_features::description.eq(description),
            billing_features::updated_at.eq(now),
        ))
        .execute(c))?;
    billing_features::table
        .filter(billing_features::slug.eq(slug))
        .select(FeatureRow::as_select())
        .first(conn)
}
