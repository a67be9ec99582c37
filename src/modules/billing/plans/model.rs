//! Plans and features: rows and the objects Clerk's API shows.

use diesel::prelude::*;
use serde::Serialize;

use crate::modules::billing::money::Money;
use crate::modules::billing::schema::{billing_features, billing_plans};

/// Who a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayerType {
    User,
    Org,
}

impl PayerType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Org => "org",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "org" => Some(Self::Org),
            _ => None,
        }
    }

    /// The scope letter of the `pla` and `fea` claims.
    pub fn claim_scope(self) -> &'static str {
        match self {
            Self::User => "u",
            Self::Org => "o",
        }
    }
}

/// A `billing_plans` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = billing_plans, treat_none_as_null = true)]
pub struct PlanRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub payer_type: String,
    pub currency: String,
    pub fee_amount: i64,
    pub annual_fee_amount: Option<i64>,
    pub is_default: bool,
    pub publicly_visible: bool,
    pub free_trial_enabled: bool,
    pub free_trial_days: Option<i32>,
    pub avatar_url: Option<String>,
    pub archived_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PlanRow {
    pub fn payer_type(&self) -> PayerType {
        PayerType::parse(&self.payer_type).unwrap_or(PayerType::User)
    }

    /// The fee for one period of `period`, if the plan can be paid so.
    pub fn fee_for(&self, period: PlanPeriod) -> Option<i64> {
        match period {
            PlanPeriod::Month => Some(self.fee_amount),
            PlanPeriod::Annual => self.annual_fee_amount,
        }
    }

    /// The trial a new subscriber gets now, in days.
    pub fn trial_days(&self) -> Option<i32> {
        self.free_trial_enabled
            .then_some(self.free_trial_days)
            .flatten()
            .filter(|days| *days > 0)
    }
}

/// How often a subscription item is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanPeriod {
    Month,
    Annual,
}

impl PlanPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Annual => "annual",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "month" => Some(Self::Month),
            "annual" => Some(Self::Annual),
            _ => None,
        }
    }
}

/// A `billing_features` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = billing_features)]
pub struct FeatureRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Clerk's `feature` object.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureObject {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub slug: String,
    pub avatar_url: Option<String>,
}

impl From<&FeatureRow> for FeatureObject {
    fn from(row: &FeatureRow) -> Self {
        Self {
            object: "feature",
            id: row.id.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            slug: row.slug.clone(),
            avatar_url: None,
        }
    }
}

/// A plan with its features, as loaded.
#[derive(Debug, Clone)]
pub struct Plan {
    pub row: PlanRow,
    pub features: Vec<FeatureRow>,
}

/// Clerk's `commerce_plan` object.
#[derive(Debug, Clone, Serialize)]
pub struct PlanObject {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    /// Deprecated in Clerk's API; the plan's id stands in for its product.
    pub product_id: String,
    pub fee: Money,
    pub annual_monthly_fee: Option<Money>,
    pub annual_fee: Option<Money>,
    pub amount: i64,
    pub amount_formatted: String,
    pub currency: String,
    pub currency_symbol: String,
    pub is_default: bool,
    pub is_recurring: bool,
    pub has_base_fee: bool,
    pub publicly_visible: bool,
    pub for_payer_type: &'static str,
    pub avatar_url: Option<String>,
    pub features: Vec<FeatureObject>,
    pub free_trial_enabled: bool,
    pub free_trial_days: Option<i32>,
}

impl From<&Plan> for PlanObject {
    fn from(plan: &Plan) -> Self {
        let row = &plan.row;
        let fee = Money::new(row.fee_amount, &row.currency);
        Self {
            object: "commerce_plan",
            id: row.id.clone(),
            name: row.name.clone(),
            slug: row.slug.clone(),
            description: row.description.clone(),
            product_id: row.id.clone(),
            amount: fee.amount,
            amount_formatted: fee.amount_formatted.clone(),
            currency: fee.currency.clone(),
            currency_symbol: fee.currency_symbol.clone(),
            fee,
            annual_monthly_fee: row
                .annual_fee_amount
                .map(|annual| Money::new(annual / 12, &row.currency)),
            annual_fee: row
                .annual_fee_amount
                .map(|annual| Money::new(annual, &row.currency)),
            is_default: row.is_default,
            is_recurring: row.fee_amount > 0,
            has_base_fee: row.fee_amount > 0,
            publicly_visible: row.publicly_visible,
            for_payer_type: row.payer_type().as_str(),
            avatar_url: row.avatar_url.clone(),
            features: plan.features.iter().map(FeatureObject::from).collect(),
            free_trial_enabled: row.free_trial_enabled,
            free_trial_days: row.free_trial_days,
        }
    }
}
