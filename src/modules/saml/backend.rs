//! Backend API routes: Clerk's `/v1/saml_connections`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::connections::{self, ConnectionParams, ListParams};
use crate::http::{ApiError, ClerkJson, ClerkQuery};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes inside the authenticated `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/saml_connections", web::get().to(list))
        .route("/saml_connections", web::post().to(create))
        .route("/saml_connections/{id}", web::get().to(get))
        .route("/saml_connections/{id}", web::patch().to(update))
        .route("/saml_connections/{id}", web::delete().to(delete));
}

async fn list(state: web::Data<AppState>, ClerkQuery(params): ClerkQuery<ListParams>) -> Reply {
    let (data, total) = connections::list(&state, params).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data, "total_count": total })))
}

async fn create(
    state: web::Data<AppState>,
    ClerkJson(params): ClerkJson<ConnectionParams>,
) -> Reply {
    Ok(HttpResponse::Ok().json(connections::create(&state, params).await?))
}

async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(connections::get(&state, id.into_inner()).await?))
}

async fn update(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ClerkJson(params): ClerkJson<ConnectionParams>,
) -> Reply {
    Ok(HttpResponse::Ok().json(connections::update(&state, id.into_inner(), params).await?))
}

async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    connections::delete(&state, id.clone()).await?;
    Ok(HttpResponse::Ok().json(json!({ "object": "saml_connection", "id": id, "deleted": true })))
}
