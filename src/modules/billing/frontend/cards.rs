//! Frontend API handlers for a payer's cards: initialize a SetupIntent,
//! save the card Stripe.js confirmed, list, remove, choose the default.

use super::*;

/// `POST …/payment_methods/initialize` (clerk-js sends `gateway=stripe`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct InitializeBody {
    gateway: Option<String>,
}

pub(super) fn check_gateway(gateway: Option<&str>) -> Result<(), ApiError> {
    match gateway {
        None | Some("") | Some("stripe") => Ok(()),
        Some(_) => Err(ApiError::param_value("gateway", "gateway must be stripe.")),
    }
}

pub(super) async fn initialize(
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

pub(super) async fn my_initialize(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<InitializeBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    initialize(&state, &me, payer, body).await
}

pub(super) async fn org_initialize(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<InitializeBody>,
) -> Reply {
    let payer = org_payer(&member);
    initialize(&state, &member.me, payer, body).await
}

/// `POST …/payment_methods`: the card Stripe.js saved.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AddCardBody {
    gateway: Option<String>,
    payment_token: Option<String>,
}

pub(super) async fn add_card(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    body: AddCardBody,
) -> Reply {
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
            Ok::<_, ApiError>(
                crate::modules::billing::payers::get(conn, &payer_id)?.default_payment_method_id,
            )
        })
        .await?;
    let object = PaymentMethodObject::new(&card, default.as_deref(), true);
    wrap(state, me, object).await
}

pub(super) async fn my_add_card(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<AddCardBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    add_card(&state, &me, payer, body).await
}

pub(super) async fn org_add_card(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<AddCardBody>,
) -> Reply {
    let payer = org_payer(&member);
    add_card(&state, &member.me, payer, body).await
}

pub(super) async fn cards(state: &AppState, me: &SignedIn, payer: PayerRef) -> Reply {
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

pub(super) async fn my_cards(state: web::Data<AppState>, me: SignedIn) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    cards(&state, &me, payer).await
}

pub(super) async fn org_cards(state: web::Data<AppState>, member: OrgMember<ReadBilling>) -> Reply {
    let payer = org_payer(&member);
    cards(&state, &member.me, payer).await
}

pub(super) async fn remove_card(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    id: String,
) -> Reply {
    let payer = payer_row(state, payer).await?;
    let card = payment_methods::remove(state, &payer, id).await?;
    wrap(
        state,
        me,
        json!({"object": "commerce_payment_method", "id": card.id, "deleted": true}),
    )
    .await
}

pub(super) async fn my_remove_card(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    remove_card(&state, &me, payer, path.into_inner()).await
}

pub(super) async fn org_remove_card(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    remove_card(&state, &member.me, payer, path.into_inner().1).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DefaultCardBody {
    payment_method_id: Option<String>,
}

pub(super) async fn default_card(
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

pub(super) async fn my_default_card(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<DefaultCardBody>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    default_card(&state, &me, payer, body).await
}

pub(super) async fn org_default_card(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    FapiForm(body): FapiForm<DefaultCardBody>,
) -> Reply {
    let payer = org_payer(&member);
    default_card(&state, &member.me, payer, body).await
}
