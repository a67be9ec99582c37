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

// --- payment methods

/// `POST …/payment_methods/initialize` (clerk-js sends `gateway=stripe`).
#[derive(Debug, Default, Deserialize)]
struct InitializeBody {
    gateway: Option<String>,
}

fn check_gateway(gateway: Option<&str>) -> Result<(), ApiError> {
    match gateway {
        None | Some("") | Some("stripe") => Ok(()),
        Some(_) => Err(ApiError::param_value("gateway", "gateway must be stripe.")),
    }
}

async fn initialize(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    body: InitializeBody,
) -> Reply {
    check_gateway(body.gateway.as_deref())?;
    let payer = payer_row(state, payer).await?;
    let initialized = payment_methods::initialize(state, &payer).await?;
    wrap(state, me, initialized).await
}

async fn my_initialize(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<InitializeBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    initialize(&state, &me, payer, body).await
}

async fn org_initialize(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<InitializeBody>,
) -> Reply {
    let payer = org_payer(&member);
    initialize(&state, &member.me, payer, body).await
}

/// `POST …/payment_methods`: the card Stripe.js saved.
#[derive(Debug, Default, Deserialize)]
struct AddCardBody {
    gateway: Option<String>,
    payment_token: Option<String>,
}

async fn add_card(state: &AppState, me: &SignedIn, payer: PayerRef, body: AddCardBody) -> Reply {
    check_gateway(body.gateway.as_deref())?;
    let token = body
        .payment_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::param_missing("payment_token"))?;
    let payer = payer_row(state, payer).await?;
    let card = payment_methods::attach(state, &payer, &token).await?;
    let payer_id = payer.id.clone();
    let default = pool(state)
        .run("billing.payers.default", move |conn| {
            Ok::<_, ApiError>(super::payers::get(conn, &payer_id)?.default_payment_method_id)
        })
        .await?;
    let object = PaymentMethodObject::new(&card, default.as_deref(), true);
    wrap(state, me, object).await
}

async fn my_add_card(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<AddCardBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    add_card(&state, &me, payer, body).await
}

async fn org_add_card(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<AddCardBody>,
) -> Reply {
    let payer = org_payer(&member);
    add_card(&state, &member.me, payer, body).await
}

async fn cards(state: &AppState, me: &SignedIn, payer: PayerRef) -> Reply {
    let payer = payer_row(state, payer).await?;
    let payer_id = payer.id.clone();
    let rows = pool(state)
        .run("billing.payment_methods.list", move |conn| {
            payment_methods::active_of(conn, &payer_id).map_err(ApiError::from)
        })
        .await?;
    let default = payer.default_payment_method_id.as_deref();
    let data: Vec<PaymentMethodObject> = rows
        .iter()
        .map(|row| PaymentMethodObject::new(row, default, true))
        .collect();
    wrap(state, me, json!({"data": data, "total_count": data.len()})).await
}

async fn my_cards(state: web::Data<AppState>, me: SignedIn) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    cards(&state, &me, payer).await
}

async fn org_cards(state: web::Data<AppState>, member: OrgMember<ReadBilling>) -> Reply {
    let payer = org_payer(&member);
    cards(&state, &member.me, payer).await
}

async fn remove_card(state: &AppState, me: &SignedIn, payer: PayerRef, id: String) -> Reply {
    let payer = payer_row(state, payer).await?;
    let card = payment_methods::remove(state, &payer, id).await?;
    wrap(
        state,
        me,
        json!({"object": "commerce_payment_method", "id": card.id, "deleted": true}),
    )
    .await
}

async fn my_remove_card(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    remove_card(&state, &me, payer, path.into_inner()).await
}

async fn org_remove_card(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    remove_card(&state, &member.me, payer, path.into_inner().1).await
}

#[derive(Debug, Default, Deserialize)]
struct DefaultCardBody {
    payment_method_id: Option<String>,
}

async fn default_card(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    body: DefaultCardBody,
) -> Reply {
    let id = body
        .payment_method_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::param_missing("payment_method_id"))?;
    let payer = payer_row(state, payer).await?;
    let card = payment_methods::set_default(state, &payer, id).await?;
    wrap(
        state,
        me,
        PaymentMethodObject::new(&card, Some(card.id.as_str()), true),
    )
    .await
}

async fn my_default_card(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<DefaultCardBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    default_card(&state, &me, payer, body).await
}

async fn org_default_card(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<DefaultCardBody>,
) -> Reply {
    let payer = org_payer(&member);
    default_card(&state, &member.me, payer, body).await
}

// --- checkouts

/// `POST …/checkouts`.
#[derive(Debug, Default, Deserialize)]
struct CheckoutBody {
    plan_id: Option<String>,
    plan_period: Option<String>,
    // Sent by clerk-js for seat-based plans, which Steward's plans are not.
    #[allow(dead_code)]
    seats_quantity: Option<String>,
    #[allow(dead_code)]
    price_id: Option<String>,
    #[allow(dead_code)]
    org_id: Option<String>,
    #[allow(dead_code)]
    payment_method_id: Option<String>,
}

async fn start_checkout(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    body: CheckoutBody,
) -> Reply {
    let plan_id = body
        .plan_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::param_missing("plan_id"))?;
    let period = match body.plan_period.as_deref() {
        None | Some("") => PlanPeriod::Month,
        Some(text) => PlanPeriod::parse(text).ok_or_else(|| {
            ApiError::param_value("plan_period", "plan_period must be month or annual.")
        })?,
    };
    let email = email_of(state, me).await?;
    let checkout = checkout::create(state, payer, email, plan_id, period).await?;
    wrap(state, me, checkout).await
}

async fn my_checkout(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<CheckoutBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    start_checkout(&state, &me, payer, body).await
}

async fn org_checkout(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<CheckoutBody>,
) -> Reply {
    let payer = org_payer(&member);
    start_checkout(&state, &member.me, payer, body).await
}

async fn my_get_checkout(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    let checkout = checkout::get(&state, payer, path.into_inner()).await?;
    wrap(&state, &me, checkout).await
}

async fn org_get_checkout(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    let checkout = checkout::get(&state, payer, path.into_inner().1).await?;
    wrap(&state, &member.me, checkout).await
}

/// `PATCH …/checkouts/{id}/confirm`: a saved card, a card Stripe.js just
/// confirmed, or nothing (a trial that needs no card; the default card).
#[derive(Debug, Default, Deserialize)]
struct ConfirmBody {
    payment_method_id: Option<String>,
    gateway: Option<String>,
    payment_token: Option<String>,
    use_test_card: Option<String>,
}

async fn confirm(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    id: String,
    body: ConfirmBody,
) -> Reply {
    check_gateway(body.gateway.as_deref())?;
    if body.use_test_card.as_deref() == Some("true") {
        return Err(ApiError::param_value(
            "use_test_card",
            "Test cards are added through Stripe.js like any other card.",
        ));
    }
    let how = Confirmation {
        payment_method_id: body.payment_method_id,
        payment_token: body.payment_token,
    };
    let checkout = checkout::confirm(state, payer, id, how).await?;
    wrap(state, me, checkout).await
}

async fn my_confirm(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    FapiForm(body): FapiForm<ConfirmBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    confirm(&state, &me, payer, path.into_inner(), body).await
}

async fn org_confirm(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    path: web::Path<(String, String)>,
    FapiForm(body): FapiForm<ConfirmBody>,
) -> Reply {
    let payer = org_payer(&member);
    confirm(&state, &member.me, payer, path.into_inner().1, body).await
}

// --- cancel, statements, payment attempts

/// `DELETE …/subscription_items/{id}`: the payer's own item is canceled
/// at the end of its period (during a trial: when the trial ends, with no
/// charge).
async fn cancel(state: &AppState, me: &SignedIn, payer: PayerRef, id: String) -> Reply {
    let payer = payer_row(state, payer).await?;
    let item_id = id.clone();
    let owner = pool(state)
        .run("billing.items.owner", move |conn| {
            Ok::<_, ApiError>(
                super::subscriptions::store::item(conn, &item_id)?.map(|item| item.payer_id),
            )
        })
        .await?;
    if owner.as_deref() != Some(payer.id.as_str()) {
        return Err(ApiError::not_found("subscription item"));
    }
    let item = super::admin::cancel(state, id, false).await?;
    wrap(state, me, item).await
}

async fn my_cancel(state: web::Data<AppState>, me: SignedIn, path: web::Path<String>) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    cancel(&state, &me, payer, path.into_inner()).await
}

async fn org_cancel(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    cancel(&state, &member.me, payer, path.into_inner().1).await
}

/// `limit` and `offset` of the billing lists.
#[derive(Debug, Default, Deserialize)]
struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
    #[allow(dead_code)]
    paginated: Option<String>,
}

async fn statements(state: &AppState, me: &SignedIn, payer: PayerRef, params: PageParams) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let payer = payer_row(state, payer).await?;
    let (data, total) = super::statements::list(state, Some(payer.id), page).await?;
    wrap(state, me, json!({"data": data, "total_count": total})).await
}

async fn my_statements(
    state: web::Data<AppState>,
    me: SignedIn,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    statements(&state, &me, payer, params).await
}

async fn org_statements(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let payer = org_payer(&member);
    statements(&state, &member.me, payer, params).await
}

async fn statement(state: &AppState, me: &SignedIn, payer: PayerRef, id: String) -> Reply {
    let payer = payer_row(state, payer).await?;
    let statement = super::statements::get(state, Some(payer.id), id).await?;
    wrap(state, me, statement).await
}

async fn my_statement(state: web::Data<AppState>, me: SignedIn, path: web::Path<String>) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    statement(&state, &me, payer, path.into_inner()).await
}

async fn org_statement(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    statement(&state, &member.me, payer, path.into_inner().1).await
}

/// Payment attempts, not enveloped: clerk-js reads them so (Clerk's spec
/// says enveloped; the SDK wins).
async fn payments(state: &AppState, payer: PayerRef, params: PageParams) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let payer = payer_row(state, payer).await?;
    let (data, total) = super::statements::payer_payment_attempts(state, payer.id, page).await?;
    let mut response = HttpResponse::Ok();
    crate::http::private_response(&mut response);
    Ok(response.json(json!({"data": data, "total_count": total})))
}

async fn my_payments(
    state: web::Data<AppState>,
    me: SignedIn,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    payments(&state, PayerRef::User(me.user_id.clone()), params).await
}

async fn org_payments(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    payments(&state, org_payer(&member), params).await
}
