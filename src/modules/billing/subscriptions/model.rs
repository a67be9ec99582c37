//! Subscriptions and their items: rows and statuses.

use diesel::prelude::*;

use crate::modules::billing::schema::{billing_subscription_items, billing_subscriptions};

/// Item statuses (Clerk's values; a trial is `active` with
/// `is_free_trial`).
pub mod status {
    pub const ACTIVE: &str = "active";
    /// Ends at the end of its period (or trial); not renewed.
    pub const CANCELED: &str = "canceled";
    pub const PAST_DUE: &str = "past_due";
    pub const ENDED: &str = "ended";
    /// The statuses of the item a payer is on now.
    pub const CURRENT: [&str; 3] = [ACTIVE, CANCELED, PAST_DUE];
}

/// A `billing_subscriptions` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = billing_subscriptions, treat_none_as_null = true)]
pub struct SubscriptionRow {
    pub id: String,
    pub payer_id: String,
    pub status: String,
    pub active_at: Option<i64>,
    pub past_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A `billing_subscription_items` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = billing_subscription_items, treat_none_as_null = true)]
pub struct ItemRow {
    pub id: String,
    pub subscription_id: String,
    pub payer_id: String,
    pub plan_id: String,
    pub plan_period: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub is_free_trial: bool,
    pub free_trial_days: Option<i32>,
    pub period_start: i64,
    pub period_end: Option<i64>,
    pub payment_method_id: Option<String>,
    pub canceled_at: Option<i64>,
    pub past_due_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub trial_notice_sent_at: Option<i64>,
    pub charge_failures: i32,
    pub next_charge_at: Option<i64>,
    pub claimed_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ItemRow {
    /// Whether the payer is on this item now.
    pub fn is_current(&self) -> bool {
        status::CURRENT.contains(&self.status.as_str())
    }
}
