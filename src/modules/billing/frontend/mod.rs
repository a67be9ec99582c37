//! Frontend API handlers: the signed-in user's billing (`/v1/me/billing/…`)
//! and an organization's (`/v1/organizations/{id}/billing/…`, for members
//! with `org:sys_billing:read` to read and `org:sys_billing:manage` to pay
//! and change). Responses are enveloped as clerk-js reads them.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::checkout::{self, Confirmation};
use super::payers::{PayerRef, PayerRow};
use super::payment_methods::{self, PaymentMethodObject};
use super::plans::model::PlanPeriod;
use super::subscriptions::service::{ensure_payer, subscription_for};
use super::{pool, BillingState};
use crate::db::write_transaction;
use crate::fapi::{envelope, OrgMember, OrgPermission, SignedIn};
use crate::http::fapi::FapiForm;
use crate::http::{ApiError, ClerkQuery, Pagination};
use crate::ids::OrganizationId;
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

mod cards;
mod checkouts;
mod history;

use cards::*;
use checkouts::*;
use history::*;

/// `org:sys_billing:read`: see the organization's subscription and cards.
pub struct ReadBilling;
/// `org:sys_billing:manage`: check out, change cards, cancel.
pub struct ManageBilling;

impl OrgPermission for ReadBilling {
    const KEY: Option<&'static str> = Some("org:sys_billing:read");
}
impl OrgPermission for ManageBilling {
    const KEY: Option<&'static str> = Some("org:sys_billing:manage");
}

/// Mounts the routes under `/v1`; each has a `/me` and an organization form.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::plans::frontend_routes(cfg);
    for (prefix, org) in [
        ("/me/billing", false),
        ("/organizations/{id}/billing", true),
    ] {
        let path = |rest: &str| format!("{prefix}{rest}");
        if org {
            cfg.route(&path("/subscription"), web::get().to(org_subscription))
                .route(
                    &path("/payment_methods/initialize"),
                    web::post().to(org_initialize),
                )
                .route(&path("/payment_methods"), web::post().to(org_add_card))
                .route(&path("/payment_methods"), web::get().to(org_cards))
                .route(
                    &path("/payment_methods/{pm}"),
                    web::delete().to(org_remove_card),
                )
                .route(
                    &path("/payers/default_payment_method"),
                    web::put().to(org_default_card),
                )
                .route(&path("/checkouts"), web::post().to(org_checkout))
                .route(
                    &path("/checkouts/{checkout}"),
                    web::get().to(org_get_checkout),
                )
                .route(
                    &path("/checkouts/{checkout}/confirm"),
                    web::patch().to(org_confirm),
                )
                .route(
                    &path("/subscription_items/{item}"),
                    web::delete().to(org_cancel),
                )
                .route(&path("/statements"), web::get().to(org_statements))
                .route(
                    &path("/statements/{statement}"),
                    web::get().to(org_statement),
                )
                .route(&path("/payment_attempts"), web::get().to(org_payments));
        } else {
            cfg.route(&path("/subscription"), web::get().to(my_subscription))
                .route(
                    &path("/payment_methods/initialize"),
                    web::post().to(my_initialize),
                )
                .route(&path("/payment_methods"), web::post().to(my_add_card))
                .route(&path("/payment_methods"), web::get().to(my_cards))
                .route(
                    &path("/payment_methods/{pm}"),
                    web::delete().to(my_remove_card),
                )
                .route(
                    &path("/payers/default_payment_method"),
                    web::put().to(my_default_card),
                )
                .route(&path("/checkouts"), web::post().to(my_checkout))
                .route(
                    &path("/checkouts/{checkout}"),
                    web::get().to(my_get_checkout),
                )
                .route(
                    &path("/checkouts/{checkout}/confirm"),
                    web::patch().to(my_confirm),
                )
                .route(
                    &path("/subscription_items/{item}"),
                    web::delete().to(my_cancel),
                )
                .route(&path("/statements"), web::get().to(my_statements))
                .route(
                    &path("/statements/{statement}"),
                    web::get().to(my_statement),
                )
                .route(&path("/payment_attempts"), web::get().to(my_payments));
        }
    }
}

async fn wrap(state: &AppState, me: &SignedIn, response: impl serde::Serialize) -> Reply {
    let value = serde_json::to_value(response).map_err(ApiError::internal)?;
    envelope(state, &me.caller, value, me.client_id.as_str()).await
}

fn org_payer<P>(member: &OrgMember<P>) -> PayerRef {
    PayerRef::Org(OrganizationId::from(
        member.membership.organization_id.clone(),
    ))
}

/// The payer's row, made (on the default plan) if missing.
async fn payer_row(state: &AppState, payer: PayerRef) -> Result<PayerRow, ApiError> {
    let now = BillingState::of(state)?.clock.now_ms();
    pool(state)
        .run("billing.payers.ensure", move |conn| {
            let payer = payer.clone();
            write_transaction(conn, |conn| {
                Ok::<_, ApiError>(ensure_payer(conn, &payer, now)?.0)
            })
        })
        .await
}

/// The signed-in user's primary email address, where billing mail goes.
async fn email_of(state: &AppState, me: &SignedIn) -> Result<Option<String>, ApiError> {
    let user = crate::modules::users::service::get_user(state, me.user_id.clone()).await?;
    let primary = user.primary_email_address_id.clone();
    Ok(user
        .email_addresses
        .iter()
        .find(|email| Some(&email.id) == primary.as_ref())
        .map(|email| email.email_address.clone()))
}

// --- subscription

async fn show_subscription(state: &AppState, me: &SignedIn, payer: PayerRef) -> Reply {
    let subscription = subscription_for(state, payer).await?;
    wrap(state, me, subscription).await
}

async fn my_subscription(state: web::Data<AppState>, me: SignedIn) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    show_subscription(&state, &me, payer).await
}

async fn org_subscription(state: web::Data<AppState>, member: OrgMember<ReadBilling>) -> Reply {
    show_subscription(&state, &member.me, org_payer(&member)).await
}
