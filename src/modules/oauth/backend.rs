//! Backend API routes: Steward's extension `/v1/oauth_connections`
//! (docs/oauth.md), managing the instance's social connections.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::connections::{self, ConnectionParams};
use crate::http::{ApiError, ClerkJson};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes inside the authenticated `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth_connections", web::get().to(list))
        .route("/oauth_connections", web::post().to(create))
        .route("/oauth_connections/{strategy}", web::get().to(get))
        .route("/oauth_connections/{strategy}", web::patch().to(update))
        .route("/oauth_connections/{strategy}", web::delete().to(delete));
}

async fn list(state: web::Data<AppState>) -> Reply {
    let all = connections::all(&state).await?;
    let data: Vec<_> = all.iter().map(|c| connections::object(&state, c)).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data, "total_count": data.len() })))
}

async fn create(
    state: web::Data<AppState>,
    ClerkJson(params): ClerkJson<ConnectionParams>,
) -> Reply {
    Ok(HttpResponse::Ok().json(connections::create(&state, params).await?))
}

async fn get(state: web::Data<AppState>, strategy: web::Path<String>) -> Reply {
    let strategy = strategy.into_inner();
    let all = connections::all(&state).await?;
    let connection = all
        .iter()
        .find(|c| c.strategy == strategy)
        .ok_or_else(|| ApiError::not_found("OAuth connection"))?;
    Ok(HttpResponse::Ok().json(connections::object(&state, connection)))
}

async fn update(
    state: web::Data<AppState>,
    strategy: web::Path<String>,
    ClerkJson(params): ClerkJson<ConnectionParams>,
) -> Reply {
    Ok(HttpResponse::Ok().json(connections::update(&state, strategy.into_inner(), params).await?))
}

async fn delete(state: web::Data<AppState>, strategy: web::Path<String>) -> Reply {
    let strategy = strategy.into_inner();
    connections::delete(&state, strategy.clone()).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "object": "oauth_connection", "strategy": strategy, "deleted": true })))
}
