//! Frontend API handlers for checkouts: start, read and confirm.

use super::*;

/// `POST …/checkouts`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CheckoutBody {
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

pub(super) async fn start_checkout(
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

pub(super) async fn my_checkout(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<CheckoutBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    start_checkout(&state, &me, payer, body).await
}

pub(super) async fn org_checkout(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<CheckoutBody>,
) -> Reply {
    let payer = org_payer(&member);
    start_checkout(&state, &member.me, payer, body).await
}

pub(super) async fn my_get_checkout(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    let checkout = checkout::get(&state, payer, path.into_inner()).await?;
    wrap(&state, &me, checkout).await
}

pub(super) async fn org_get_checkout(
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
pub(super) struct ConfirmBody {
    payment_method_id: Option<String>,
    gateway: Option<String>,
    payment_token: Option<String>,
    use_test_card: Option<String>,
}

pub(super) async fn confirm(
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

pub(super) async fn my_confirm(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    FapiForm(body): FapiForm<ConfirmBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    confirm(&state, &me, payer, path.into_inner(), body).await
}

pub(super) async fn org_confirm(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    path: web::Path<(String, String)>,
    FapiForm(body): FapiForm<ConfirmBody>,
) -> Reply {
    let payer = org_payer(&member);
    confirm(&state, &member.me, payer, path.into_inner().1, body).await
}
