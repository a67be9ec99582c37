//! Plan management: the Backend API extension that creates, changes and
//! archives plans and sets free trials on many plans at once, and the
//! reads both APIs serve. A change applies to checkouts started after it;
//! subscription items keep the fee and trial they started with.

use serde::Deserialize;

use super::model::{PayerType, Plan, PlanRow};
use super::store::{self, PlanFilter};
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, Pagination, Patch};
use crate::modules::billing::{pool, BillingState};
use crate::state::AppState;

const MAX_FEATURES: usize = 100;
const MAX_BULK_PLANS: usize = 100;
/// Clerk accepts trials of 1 to 365 days.
pub const TRIAL_DAYS: std::ops::RangeInclusive<i32> = 1..=365;

/// A feature named in a plan's body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureInput {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
}

/// `POST /v1/billing/plans`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub payer_type: String,
    /// The monthly fee in minor units; 0 for a free plan.
    #[serde(default)]
    pub fee: i64,
    /// The yearly fee, when the plan can be paid yearly.
    pub annual_fee: Option<i64>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default = "yes")]
    pub publicly_visible: bool,
    #[serde(default)]
    pub free_trial_enabled: bool,
    pub free_trial_days: Option<i32>,
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub features: Vec<FeatureInput>,
}

fn yes() -> bool {
    true
}

/// `PATCH /v1/billing/plans/{id}`: absent fields stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    pub name: Option<String>,
    pub slug: Option<String>,
    #[serde(default)]
    pub description: Patch<String>,
    pub fee: Option<i64>,
    #[serde(default)]
    pub annual_fee: Patch<i64>,
    pub is_default: Option<bool>,
    pub publicly_visible: Option<bool>,
    pub free_trial_enabled: Option<bool>,
    #[serde(default)]
    pub free_trial_days: Patch<i32>,
    #[serde(default)]
    pub avatar_url: Patch<String>,
    pub features: Option<Vec<FeatureInput>>,
}

/// `POST /v1/billing/plans/free_trial`: one trial configuration for many
/// plans, applied to all of them or none.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialRollout {
    pub plan_ids: Vec<String>,
    pub free_trial_enabled: bool,
    pub free_trial_days: Option<i32>,
}

fn check_text(param: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::param_value(
            param,
            format!("{param} must not be empty."),
        ));
    }
    if value.chars().count() > max {
        return Err(ApiError::param_too_long(param, max));
    }
    Ok(())
}

fn check_slug(param: &str, slug: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::param_format(
            param,
            "Slugs are 1–64 characters: lower-case letters, digits, '_' and '-'.",
        ))
    }
}

fn check_fee(param: &str, fee: i64) -> Result<(), ApiError> {
    if !(0..=100_000_000).contains(&fee) {
        return Err(ApiError::param_value(
            param,
            "Fees are amounts in minor units from 0 to 100000000.",
        ));
    }
    Ok(())
}

fn check_trial(enabled: bool, days: Option<i32>) -> Result<(), ApiError> {
    match days {
        Some(days) if !TRIAL_DAYS.contains(&days) => Err(ApiError::param_value(
            "free_trial_days",
            "free_trial_days must be between 1 and 365.",
        )),
        None if enabled => Err(ApiError::param_missing("free_trial_days")),
        _ => Ok(()),
    }
}

fn check_features(features: &[FeatureInput]) -> Result<(), ApiError> {
    if features.len() > MAX_FEATURES {
        return Err(ApiError::param_value(
            "features",
            format!("A plan has at most {MAX_FEATURES} features."),
        ));
    }
    for feature in features {
        check_slug("features", &feature.slug)?;
        check_text("features", &feature.name, 256)?;
    }
    Ok(())
}

/// The rules a plan's fields must keep together.
fn check_plan(row: &PlanRow) -> Result<(), ApiError> {
    check_text("name", &row.name, 256)?;
    check_slug("slug", &row.slug)?;
    check_fee("fee", row.fee_amount)?;
    if let Some(annual) = row.annual_fee_amount {
        check_fee("annual_fee", annual)?;
    }
    if row.is_default && (row.fee_amount != 0 || row.annual_fee_amount.unwrap_or(0) != 0) {
        return Err(ApiError::param_value(
            "is_default",
            "The default plan is free: its fees must be 0.",
        ));
    }
    if row.is_default && row.free_trial_enabled {
        return Err(ApiError::param_value(
            "free_trial_enabled",
            "The default plan is free and has no trial.",
        ));
    }
    if row.free_trial_enabled && row.fee_amount == 0 {
        return Err(ApiError::param_value(
            "free_trial_enabled",
            "Only a paid plan can have a free trial.",
        ));
    }
    check_trial(row.free_trial_enabled, row.free_trial_days)?;
    if let Some(description) = &row.description {
        if description.chars().count() > 2048 {
            return Err(ApiError::param_too_long("description", 2048));
        }
    }
    Ok(())
}

/// Saves a plan row and its features; a taken slug or a second default
/// plan for the payer type answers 422 `form_identifier_exists`.
fn save(
    conn: &mut DbConnection,
    row: &PlanRow,
    features: Option<&[FeatureInput]>,
    insert: bool,
) -> Result<(), ApiError> {
    use crate::modules::billing::schema::billing_plans;
    use diesel::prelude::*;
    let written = if insert {
        diesel::insert_into(billing_plans::table)
            .values(row)
            .execute(conn)
    } else {
        diesel::update(billing_plans::table.find(&row.id))
            .set(row)
            .execute(conn)
    };
    written.map_err(|error| match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            ref info,
        ) if info
            .constraint_name()
            .is_some_and(|c| c.contains("default"))
            || info.message().contains("payer_type") =>
        {
            ApiError::identifier_exists("is_default", "default plan for this payer type")
        }
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => ApiError::identifier_exists("slug", "plan"),
        other => ApiError::from(other),
    })?;
    if let Some(features) = features {
        let rows = features
            .iter()
            .map(|f| {
                store::upsert_feature(
                    conn,
                    &f.slug,
                    &f.name,
                    f.description.as_deref(),
                    row.updated_at,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        store::set_features(conn, &row.id, &rows)?;
    }
    if !insert {
        // Its subscribers' tokens show its slug and features.
        crate::modules::billing::push::plan_changed(conn, &row.id)?;
    }
    Ok(())
}

/// [`save`], and a new default price when the fees are new.
fn save_with_price(
    conn: &mut DbConnection,
    row: &PlanRow,
    features: Option<&[FeatureInput]>,
    previous_fees: Option<(i64, Option<i64>)>,
) -> Result<(), ApiError> {
    save(conn, row, features, previous_fees.is_none())?;
    if previous_fees != Some((row.fee_amount, row.annual_fee_amount)) {
        super::prices::record_default(conn, &row.id, None, row.updated_at)?;
    }
    Ok(())
}

fn clock(state: &AppState) -> Result<i64, ApiError> {
    Ok(BillingState::of(state)?.clock.now_ms())
}

pub async fn create_plan(state: &AppState, input: NewPlan) -> Result<Plan, ApiError> {
    let payer_type = PayerType::parse(&input.payer_type)
        .ok_or_else(|| ApiError::param_value("payer_type", "payer_type must be user or org."))?;
    check_features(&input.features)?;
    let now = clock(state)?;
    let row = PlanRow {
        id: crate::crypto::ids::new_id("cplan"),
        slug: input.slug,
        name: input.name,
        description: input.description,
        payer_type: payer_type.as_str().to_owned(),
        currency: BillingState::of(state)?.settings.currency.clone(),
        fee_amount: input.fee,
        annual_fee_amount: input.annual_fee,
        is_default: input.is_default,
        publicly_visible: input.publicly_visible,
        free_trial_enabled: input.free_trial_enabled,
        free_trial_days: input.free_trial_days,
        avatar_url: input.avatar_url,
        archived_at: None,
        created_at: now,
        updated_at: now,
    };
    check_plan(&row)?;
    let features = input.features;
    pool(state)
        .run("billing.plans.create", move |conn| {
            write_transaction(conn, |conn| {
                save_with_price(conn, &row, Some(&features), None)?;
                store::find(conn, &row.id)?.ok_or_else(|| ApiError::not_found("plan"))
            })
        })
        .await
}

pub async fn update_plan(
    state: &AppState,
    id: String,
    change: PlanChange,
) -> Result<Plan, ApiError> {
    if let Some(features) = &change.features {
        check_features(features)?;
    }
    let now = clock(state)?;
    pool(state)
        .run("billing.plans.update", move |conn| {
            let change = change.clone();
            write_transaction(conn, |conn| {
                let plan = store::find(conn, &id)?
                    .filter(|plan| plan.row.archived_at.is_none())
                    .ok_or_else(|| ApiError::not_found("plan"))?;
                let mut row = plan.row;
                let previous_fees = Some((row.fee_amount, row.annual_fee_amount));
                if let Some(name) = change.name {
                    row.name = name;
                }
                if let Some(slug) = change.slug {
                    row.slug = slug;
                }
                if let Some(description) = change.description.into_change() {
                    row.description = description;
                }
                if let Some(fee) = change.fee {
                    row.fee_amount = fee;
                }
                if let Some(annual) = change.annual_fee.into_change() {
                    row.annual_fee_amount = annual;
                }
                if let Some(is_default) = change.is_default {
                    row.is_default = is_default;
                }
                if let Some(visible) = change.publicly_visible {
                    row.publicly_visible = visible;
                }
                if let Some(enabled) = change.free_trial_enabled {
                    row.free_trial_enabled = enabled;
                }
                if let Some(days) = change.free_trial_days.into_change() {
                    row.free_trial_days = days;
                }
                if let Some(url) = change.avatar_url.into_change() {
                    row.avatar_url = url;
                }
                row.updated_at = now;
                check_plan(&row)?;
                save_with_price(conn, &row, change.features.as_deref(), previous_fees)?;
                store::find(conn, &row.id)?.ok_or_else(|| ApiError::not_found("plan"))
            })
        })
        .await
}

/// Archives a plan: it leaves the listings and takes no new checkout;
/// current subscribers keep it. The default plan cannot be archived while
/// it is the default.
pub async fn archive_plan(state: &AppState, id: String) -> Result<Plan, ApiError> {
    let now = clock(state)?;
    pool(state)
        .run("billing.plans.archive", move |conn| {
            use crate::modules::billing::schema::billing_plans;
            use diesel::prelude::*;
            write_transaction(conn, |conn| {
                let plan = store::find(conn, &id)?
                    .filter(|plan| plan.row.archived_at.is_none())
                    .ok_or_else(|| ApiError::not_found("plan"))?;
                if plan.row.is_default {
                    return Err(ApiError::param_value(
                        "is_default",
                        "Name another default plan before archiving this one.",
                    ));
                }
                diesel::update(billing_plans::table.find(&plan.row.id))
                    .set((
                        billing_plans::archived_at.eq(now),
                        billing_plans::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                store::find(conn, &plan.row.id)?.ok_or_else(|| ApiError::not_found("plan"))
            })
        })
        .await
}

/// Sets one trial configuration on every plan of `rollout`, in one
/// transaction: an unknown, archived or free plan refuses the whole call.
pub async fn roll_out_trial(
    state: &AppState,
    rollout: TrialRollout,
) -> Result<Vec<Plan>, ApiError> {
    if rollout.plan_ids.is_empty() || rollout.plan_ids.len() > MAX_BULK_PLANS {
        return Err(ApiError::param_value(
            "plan_ids",
            format!("Name 1 to {MAX_BULK_PLANS} plans."),
        ));
    }
    check_trial(rollout.free_trial_enabled, rollout.free_trial_days)?;
    let now = clock(state)?;
    pool(state)
        .run("billing.plans.roll_out_trial", move |conn| {
            let rollout = rollout.clone();
            write_transaction(conn, |conn| {
                let mut plans = Vec::new();
                for id in &rollout.plan_ids {
                    let plan = store::find(conn, id)?
                        .filter(|plan| plan.row.archived_at.is_none() && plan.row.id == *id)
                        .ok_or_else(|| ApiError::not_found("plan").with_param("plan_ids"))?;
                    let mut row = plan.row;
                    row.free_trial_enabled = rollout.free_trial_enabled;
                    if rollout.free_trial_days.is_some() || rollout.free_trial_enabled {
                        row.free_trial_days = rollout.free_trial_days;
                    }
                    row.updated_at = now;
                    check_plan(&row).map_err(|e| e.with_param("plan_ids"))?;
                    save(conn, &row, None, false)?;
                    plans.push(
                        store::find(conn, &row.id)?.ok_or_else(|| ApiError::not_found("plan"))?,
                    );
                }
                Ok(plans)
            })
        })
        .await
}

pub async fn list_plans(
    state: &AppState,
    filter: PlanFilter,
    page: Pagination,
) -> Result<(Vec<Plan>, i64), ApiError> {
    pool(state)
        .run("billing.plans.list", move |conn| {
            store::list(conn, &filter, page).map_err(ApiError::from)
        })
        .await
}

/// A plan by id or slug; archived plans only when `archived` is set.
pub async fn get_plan(
    state: &AppState,
    id_or_slug: String,
    archived: bool,
) -> Result<Plan, ApiError> {
    pool(state)
        .run("billing.plans.get", move |conn| {
            store::find(conn, &id_or_slug)?
                .filter(|plan| archived || plan.row.archived_at.is_none())
                .ok_or_else(|| ApiError::not_found("plan"))
        })
        .await
}
