//! Plans and their features: the catalogue payers subscribe to.

pub mod model;
pub mod prices;
pub mod service;
pub mod store;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use self::model::{PayerType, PlanObject};
use self::store::PlanFilter;
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// `GET /v1/billing/plans` parameters (both APIs).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    payer_type: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// Clerk's Backend API accepts it; the reply is always a page.
    #[allow(dead_code)]
    paginated: Option<bool>,
    // The Frontend API's extra parameters, which do not narrow the list.
    #[allow(dead_code)]
    org_id: Option<String>,
    #[allow(dead_code)]
    min_seats: Option<i64>,
}

impl ListParams {
    fn payer_type(&self) -> Result<Option<String>, ApiError> {
        match self.payer_type.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => PayerType::parse(text)
                .map(|p| Some(p.as_str().to_owned()))
                .ok_or_else(|| {
                    ApiError::param_value("payer_type", "payer_type must be user or org.")
                }),
        }
    }
}

fn page(plans: &[model::Plan], total: i64) -> HttpResponse {
    let data: Vec<PlanObject> = plans.iter().map(PlanObject::from).collect();
    HttpResponse::Ok().json(json!({ "data": data, "total_count": total }))
}

/// Backend API routes: Clerk's plan listing and Steward's plan management.
pub fn backend_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing/plans", web::get().to(backend_list))
        .route("/billing/plans", web::post().to(create))
        .route("/billing/plans/free_trial", web::post().to(roll_out_trial))
        .route("/billing/plans/{id}", web::get().to(backend_get))
        .route("/billing/plans/{id}", web::patch().to(update))
        .route("/billing/plans/{id}", web::delete().to(archive))
        .route("/billing/prices", web::get().to(list_prices))
        .route("/billing/prices", web::post().to(create_price));
}

/// Frontend API routes: the public catalogue, not enveloped (as clerk-js
/// reads it).
pub fn frontend_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing/plans", web::get().to(frontend_list))
        .route("/billing/plans/{id}", web::get().to(frontend_get));
}

/// Every plan in use, hidden ones too, newest first.
async fn backend_list(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let filter = PlanFilter {
        payer_type: params.payer_type()?,
        publicly_visible_only: false,
    };
    let (plans, total) = service::list_plans(
        &state,
        filter,
        Pagination::new(params.limit, params.offset)?,
    )
    .await?;
    Ok(page(&plans, total))
}

/// The publicly visible plans of a payer type (users' by default).
async fn frontend_list(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ListParams>,
) -> Reply {
    let filter = PlanFilter {
        payer_type: Some(params.payer_type()?.unwrap_or_else(|| "user".to_owned())),
        publicly_visible_only: true,
    };
    let (plans, total) = service::list_plans(
        &state,
        filter,
        Pagination::new(params.limit, params.offset)?,
    )
    .await?;
    Ok(page(&plans, total))
}

async fn backend_get(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let plan = service::get_plan(&state, path.into_inner(), true).await?;
    Ok(HttpResponse::Ok().json(PlanObject::from(&plan)))
}

async fn frontend_get(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let plan = service::get_plan(&state, path.into_inner(), false).await?;
    if !plan.row.publicly_visible {
        return Err(ApiError::not_found("plan"));
    }
    Ok(HttpResponse::Ok().json(PlanObject::from(&plan)))
}

async fn create(state: web::Data<AppState>, ClerkJson(body): ClerkJson<service::NewPlan>) -> Reply {
    let plan = service::create_plan(&state, body).await?;
    Ok(HttpResponse::Ok().json(PlanObject::from(&plan)))
}

async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<service::PlanChange>,
) -> Reply {
    let plan = service::update_plan(&state, path.into_inner(), body).await?;
    Ok(HttpResponse::Ok().json(PlanObject::from(&plan)))
}

async fn archive(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let plan = service::archive_plan(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(PlanObject::from(&plan)))
}

async fn roll_out_trial(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<service::TrialRollout>,
) -> Reply {
    let plans = service::roll_out_trial(&state, body).await?;
    let total = plans.len() as i64;
    Ok(page(&plans, total))
}

/// `GET /v1/billing/prices` parameters.
#[derive(Debug, Default, Deserialize)]
struct PriceParams {
    plan_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    #[allow(dead_code)]
    paginated: Option<bool>,
}

async fn list_prices(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<PriceParams>,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let plan_id = params.plan_id.filter(|id| !id.is_empty());
    let (data, total) = prices::list(&state, plan_id, page).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data, "total_count": total })))
}

async fn create_price(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<prices::NewPrice>,
) -> Reply {
    Ok(HttpResponse::Ok().json(prices::create(&state, body).await?))
}
