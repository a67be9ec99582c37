//! Frontend API handlers for what a payer has: cancel an item, read
//! statements and payment attempts.

use super::*;

/// `DELETE …/subscription_items/{id}`: the payer's own item is canceled
/// at the end of its period (during a trial: when the trial ends, with no
/// charge).
pub(super) async fn cancel(state: &AppState, me: &SignedIn, payer: PayerRef, id: String) -> Reply {
    let payer = payer_row(state, payer).await?;
    let item_id = id.clone();
    let owner = pool(state)
        .run("billing.items.owner", move |conn| {
            Ok::<_, ApiError>(
                crate::modules::billing::subscriptions::store::item(conn, &item_id)?
                    .map(|item| item.payer_id),
            )
        })
        .await?;
    if owner.as_deref() != Some(payer.id.as_str()) {
        return Err(ApiError::not_found("subscription item"));
    }
    let item = crate::modules::billing::admin::cancel(state, id, false).await?;
    wrap(state, me, item).await
}

pub(super) async fn my_cancel(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    cancel(&state, &me, payer, path.into_inner()).await
}

pub(super) async fn org_cancel(
    state: web::Data<AppState>,
    member: OrgMember<ManageBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    cancel(&state, &member.me, payer, path.into_inner().1).await
}

/// `limit` and `offset` of the billing lists.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
    #[allow(dead_code)]
    paginated: Option<String>,
}

pub(super) async fn statements(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    params: PageParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let payer = payer_row(state, payer).await?;
    let (data, total) =
        crate::modules::billing::statements::list(state, Some(payer.id), page).await?;
    wrap(state, me, json!({"data": data, "total_count": total})).await
}

pub(super) async fn my_statements(
    state: web::Data<AppState>,
    me: SignedIn,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    statements(&state, &me, payer, params).await
}

pub(super) async fn org_statements(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let payer = org_payer(&member);
    statements(&state, &member.me, payer, params).await
}

pub(super) async fn statement(
    state: &AppState,
    me: &SignedIn,
    payer: PayerRef,
    id: String,
) -> Reply {
    let payer = payer_row(state, payer).await?;
    let statement = crate::modules::billing::statements::get(state, Some(payer.id), id).await?;
    wrap(state, me, statement).await
}

pub(super) async fn my_statement(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Reply {
    let payer = PayerRef::User(me.user_id.clone());
    statement(&state, &me, payer, path.into_inner()).await
}

pub(super) async fn org_statement(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    path: web::Path<(String, String)>,
) -> Reply {
    let payer = org_payer(&member);
    statement(&state, &member.me, payer, path.into_inner().1).await
}

/// Payment attempts, not enveloped: clerk-js reads them so (Clerk's spec
/// says enveloped; the SDK wins).
pub(super) async fn payments(state: &AppState, payer: PayerRef, params: PageParams) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let payer = payer_row(state, payer).await?;
    let (data, total) =
        crate::modules::billing::statements::payer_payment_attempts(state, payer.id, page).await?;
    let mut response = HttpResponse::Ok();
    crate::http::private_response(&mut response);
    Ok(response.json(json!({"data": data, "total_count": total})))
}

pub(super) async fn my_payments(
    state: web::Data<AppState>,
    me: SignedIn,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    payments(&state, PayerRef::User(me.user_id.clone()), params).await
}

pub(super) async fn org_payments(
    state: web::Data<AppState>,
    member: OrgMember<ReadBilling>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    payments(&state, org_payer(&member), params).await
}
