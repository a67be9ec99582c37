//! Payers' cards: rows and Clerk's `commerce_payment_method` object. Stripe
//! holds the card; Steward keeps what the API shows and the
//! PaymentMethod id it charges.

use diesel::prelude::*;
use serde::Serialize;

use super::gateway_errors::{api_error, not_configured};
use super::payers::{self, PayerRow};
use super::schema::billing_payment_methods;
use super::{pool, BillingState};
use crate::db::{write_transaction, DbConnection};
use crate::http::ApiError;
use crate::state::AppState;

/// Active cards one payer may keep.
const MAX_CARDS: usize = 20;

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

/// What `POST …/payment_methods/initialize` returns: the SetupIntent's
/// client secret, for Stripe.js to save a card with.
#[derive(Debug, Clone, Serialize)]
pub struct InitializeObject {
    pub object: &'static str,
    pub external_client_secret: String,
    pub external_gateway_id: String,
    pub payment_method_order: [&'static str; 1],
}

/// The payer's Stripe customer, made on first need. Two first calls at
/// once make one customer (Stripe's idempotency per payer) and keep the
/// first id stored.
pub async fn ensure_customer(state: &AppState, payer: &PayerRow) -> Result<String, ApiError> {
    if let Some(customer) = &payer.gateway_customer_id {
        return Ok(customer.clone());
    }
    let gateway = BillingState::of(state)?
        .gateway
        .as_ref()
        .ok_or_else(not_configured)?;
    let created = gateway
        .create_customer(&payer.id)
        .await
        .map_err(|e| api_error(e, "payer"))?;
    let payer_id = payer.id.clone();
    pool(state)
        .run("billing.payers.customer", move |conn| {
            use crate::modules::billing::schema::billing_payers;
            diesel::update(
                billing_payers::table
                    .find(&payer_id)
                    .filter(billing_payers::gateway_customer_id.is_null()),
            )
            .set(billing_payers::gateway_customer_id.eq(&created))
            .execute(conn)?;
            billing_payers::table
                .find(&payer_id)
                .select(billing_payers::gateway_customer_id)
                .first::<Option<String>>(conn)?
                .ok_or_else(|| ApiError::internal("payer without a customer after storing one"))
        })
        .await
}

/// A SetupIntent for the payer's customer.
pub async fn initialize(state: &AppState, payer: &PayerRow) -> Result<InitializeObject, ApiError> {
    let customer = ensure_customer(state, payer).await?;
    let gateway = BillingState::of(state)?
        .gateway
        .as_ref()
        .ok_or_else(not_configured)?;
    let intent = gateway
        .create_setup_intent(&customer)
        .await
        .map_err(|e| api_error(e, "gateway"))?;
    Ok(InitializeObject {
        object: "commerce_payment_method_initialize",
        external_client_secret: intent.client_secret.expose_secret().to_owned(),
        external_gateway_id: String::new(),
        payment_method_order: ["card"],
    })
}

/// Saves the card Stripe.js confirmed (`payment_token`, a PaymentMethod
/// id) as the payer's: attached to their customer, stored, and made the
/// default when it is their first. A card already saved by this payer is
/// returned as is; one attached to another customer is refused.
pub async fn attach(
    state: &AppState,
    payer: &PayerRow,
    token: &str,
) -> Result<PaymentMethodRow, ApiError> {
    let token_ok = token.starts_with("pm_")
        && token.len() <= 255
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !token_ok {
        return Err(ApiError::param_format(
            "payment_token",
            "payment_token must be a Stripe PaymentMethod id (pm_…).",
        ));
    }
    let customer = ensure_customer(state, payer).await?;
    let gateway = BillingState::of(state)?
        .gateway
        .as_ref()
        .ok_or_else(not_configured)?;
    let card = gateway
        .retrieve_payment_method(token)
        .await
        .map_err(|e| api_error(e, "payment_token"))?;
    let card = match card.customer.as_deref() {
        Some(owner) if owner == customer => card,
        Some(_) => {
            return Err(ApiError::param_value(
                "payment_token",
                "This payment method belongs to another customer.",
            ))
        }
        None => gateway
            .attach_payment_method(token, &customer)
            .await
            .map_err(|e| api_error(e, "payment_token"))?,
    };
    let now = BillingState::of(state)?.clock.now_ms();
    let payer_id = payer.id.clone();
    let row = PaymentMethodRow {
        id: crate::crypto::ids::new_id("cpm"),
        payer_id: payer_id.clone(),
        gateway: "stripe".to_owned(),
        gateway_external_id: card.id.clone(),
        card_type: Some(card.brand.clone()),
        last4: Some(card.last4.clone()),
        expiry_month: i32::try_from(card.exp_month).ok(),
        expiry_year: i32::try_from(card.exp_year).ok(),
        fingerprint: card.fingerprint.clone(),
        status: "active".to_owned(),
        created_at: now,
        updated_at: now,
    };
    let (saved, made_default) = pool(state)
        .run("billing.payment_methods.attach", move |conn| {
            let row = row.clone();
            write_transaction(conn, |conn| {
                use crate::modules::billing::schema::billing_payers;
                let payer = payers::lock(conn, &payer_id)?;
                let existing = billing_payment_methods::table
                    .filter(
                        billing_payment_methods::gateway_external_id.eq(&row.gateway_external_id),
                    )
                    .select(PaymentMethodRow::as_select())
                    .first(conn)
                    .optional()?;
                let saved = match existing {
                    Some(existing) if existing.payer_id != payer.id => {
                        return Err(ApiError::param_value(
                            "payment_token",
                            "This payment method belongs to another payer.",
                        ))
                    }
                    Some(mut existing) => {
                        if existing.status != "active" {
                            existing.status = "active".to_owned();
                            existing.updated_at = now;
                            diesel::update(billing_payment_methods::table.find(&existing.id))
                                .set((
                                    billing_payment_methods::status.eq("active"),
                                    billing_payment_methods::updated_at.eq(now),
                                ))
                                .execute(conn)?;
                        }
                        existing
                    }
                    None => {
                        if active_of(conn, &payer.id)?.len() >= MAX_CARDS {
                            return Err(ApiError::param_value(
                                "payment_token",
                                format!(
                                    "A payer keeps at most {MAX_CARDS} cards; remove one first."
                                ),
                            ));
                        }
                        diesel::insert_into(billing_payment_methods::table)
                            .values(&row)
                            .execute(conn)?;
                        row
                    }
                };
                let has_default = match &payer.default_payment_method_id {
                    Some(id) => find(conn, id)?.is_some_and(|card| card.status == "active"),
                    None => false,
                };
                if !has_default {
                    diesel::update(billing_payers::table.find(&payer.id))
                        .set((
                            billing_payers::default_payment_method_id.eq(&saved.id),
                            billing_payers::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, ApiError>((saved, !has_default))
            })
        })
        .await?;
    if made_default {
        gateway
            .set_default_payment_method(&customer, &saved.gateway_external_id)
            .await
            .map_err(|e| api_error(e, "payment_token"))?;
    }
    Ok(saved)
}

/// Makes one of the payer's active cards their default.
pub async fn set_default(
    state: &AppState,
    payer: &PayerRow,
    id: String,
) -> Result<PaymentMethodRow, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let payer_id = payer.id.clone();
    let card = pool(state)
        .run("billing.payment_methods.default", move |conn| {
            use crate::modules::billing::schema::billing_payers;
            write_transaction(conn, |conn| {
                let card = find(conn, &id)?
                    .filter(|card| card.payer_id == payer_id && card.status == "active")
                    .ok_or_else(|| ApiError::not_found("payment method"))?;
                diesel::update(billing_payers::table.find(&payer_id))
                    .set((
                        billing_payers::default_payment_method_id.eq(&card.id),
                        billing_payers::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok::<_, ApiError>(card)
            })
        })
        .await?;
    if let (Some(gateway), Some(customer)) = (
        BillingState::of(state)?.gateway.as_ref(),
        payer.gateway_customer_id.as_deref(),
    ) {
        gateway
            .set_default_payment_method(customer, &card.gateway_external_id)
            .await
            .map_err(|e| api_error(e, "payment_method_id"))?;
    }
    Ok(card)
}

/// Removes a card. The default card of a payer whose paid item renews
/// cannot go (they would not be charged at renewal); any other card can,
/// and is detached from the customer at Stripe.
pub async fn remove(
    state: &AppState,
    payer: &PayerRow,
    id: String,
) -> Result<PaymentMethodRow, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    let payer_id = payer.id.clone();
    let card = pool(state)
        .run("billing.payment_methods.remove", move |conn| {
            use crate::modules::billing::schema::billing_payers;
            write_transaction(conn, |conn| {
                let payer = payers::lock(conn, &payer_id)?;
                let card = find(conn, &id)?
                    .filter(|card| card.payer_id == payer.id && card.status == "active")
                    .ok_or_else(|| ApiError::not_found("payment method"))?;
                let is_default = payer.default_payment_method_id.as_deref() == Some(card.id.as_str());
                if is_default && renews(conn, &payer.id)? {
                    return Err(ApiError::new(
                        crate::http::ErrorCode::ActionNotAllowed,
                        "default payment method in use",
                        "Make another card the default before removing the one that pays for the subscription.",
                    ));
                }
                diesel::update(billing_payment_methods::table.find(&card.id))
                    .set((
                        billing_payment_methods::status.eq("disconnected"),
                        billing_payment_methods::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                if is_default {
                    diesel::update(billing_payers::table.find(&payer.id))
                        .set(billing_payers::default_payment_method_id.eq(None::<String>))
                        .execute(conn)?;
                }
                Ok::<_, ApiError>(PaymentMethodRow {
                    status: "disconnected".to_owned(),
                    updated_at: now,
                    ..card
                })
            })
        })
        .await?;
    if let Some(gateway) = BillingState::of(state)?.gateway.as_ref() {
        if let Err(error) = gateway
            .detach_payment_method(&card.gateway_external_id)
            .await
        {
            // Stored as removed: it is never charged again; Stripe keeps
            // an unused card on the customer.
            tracing::warn!(%error, payment_method = card.id, "detaching a removed card failed");
        }
    }
    Ok(card)
}

/// Whether the payer's current item is paid and renews.
fn renews(conn: &mut DbConnection, payer_id: &str) -> QueryResult<bool> {
    use crate::modules::billing::subscriptions::store::current_item;
    Ok(current_item(conn, payer_id)?
        .is_some_and(|item| item.amount > 0 && item.status != "canceled"))
}
