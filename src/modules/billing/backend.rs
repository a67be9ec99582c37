//! Billing's Backend API beyond plans: a user's or organization's
//! subscription, every payer's subscription items (list, cancel, extend a
//! trial) and statements with their payment attempts, as Clerk's spec and
//! `@clerk/backend` have them.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::item_list::{self, ItemFilter};
use super::payers::PayerRef;
use super::plans::model::PayerType;
use super::{admin, statements, subscriptions};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::ids::{OrganizationId, UserId};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/users/{id}/billing/subscription",
        web::get().to(user_subscription),
    )
    .route(
        "/organizations/{id}/billing/subscription",
        web::get().to(organization_subscription),
    )
    .route("/billing/subscription_items", web::get().to(list_items))
    .route(
        "/billing/subscription_items/{id}",
        web::delete().to(cancel_item),
    )
    .route(
        "/billing/subscription_items/{id}/extend_free_trial",
        web::post().to(extend_free_trial),
    )
    .route("/billing/statements", web::get().to(list_statements))
    .route("/billing/statements/{id}", web::get().to(get_statement))
    .route(
        "/billing/statements/{id}/payment_attempts",
        web::get().to(statement_payment_attempts),
    );
}

async fn user_subscription(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let id = UserId::from(path.into_inner());
    // 404 for a user that does not exist, as for every user route.
    crate::modules::users::service::get_user(&state, id.clone()).await?;
    let subscription = subscriptions::service::subscription_for(&state, PayerRef::User(id)).await?;
    Ok(HttpResponse::Ok().json(subscription))
}

async fn organization_subscription(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let id = OrganizationId::from(path.into_inner());
    let (org, _) = crate::modules::orgs::service::get(&state, id.into()).await?;
    let payer = PayerRef::Org(OrganizationId::from(org.id));
    let subscription = subscriptions::service::subscription_for(&state, payer).await?;
    Ok(HttpResponse::Ok().json(subscription))
}

/// `GET /v1/billing/subscription_items` parameters.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    status: Option<String>,
    payer_type: Option<String>,
    plan_id: Option<String>,
    include_free: Option<bool>,
    query: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// Accepted as Clerk does; the reply is always a page.
    #[allow(dead_code)]
    paginated: Option<bool>,
}

async fn list_items(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let payer_type = match params.payer_type.as_deref() {
        None | Some("") => None,
        Some(text) => Some(PayerType::parse(text).ok_or_else(|| {
            ApiError::param_value("payer_type", "payer_type must be user or org.")
        })?),
    };
    let filter = ItemFilter {
        statuses: ItemFilter::status(params.status.as_deref().unwrap_or(""))?,
        payer_type,
        plan_id: params.plan_id.filter(|id| !id.is_empty()),
        include_free: params.include_free.unwrap_or(false),
        query: params.query.filter(|q| !q.trim().is_empty()),
    };
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = item_list::list(&state, filter, page).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data, "total_count": total })))
}

#[derive(Debug, Default, Deserialize)]
struct CancelParams {
    /// `@clerk/backend` sends it only when true.
    end_now: Option<bool>,
}

async fn cancel_item(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<CancelParams>,
) -> Reply {
    let item = admin::cancel(&state, path.into_inner(), params.end_now.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().json(item))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendBody {
    extend_to: Option<String>,
}

async fn extend_free_trial(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<ExtendBody>,
) -> Reply {
    let text = body
        .extend_to
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::param_missing("extend_to"))?;
    let extend_to = admin::parse_extend_to(&text)?;
    let item = admin::extend_trial(&state, path.into_inner(), extend_to).await?;
    Ok(HttpResponse::Ok().json(item))
}

#[derive(Debug, Default, Deserialize)]
struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
    #[allow(dead_code)]
    paginated: Option<bool>,
}

async fn list_statements(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = statements::list(&state, None, page).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data, "total_count": total })))
}

async fn get_statement(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(statements::get(&state, None, path.into_inner()).await?))
}

async fn statement_payment_attempts(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = statements::payment_attempts(&state, path.into_inner(), page).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data, "total_count": total })))
}
