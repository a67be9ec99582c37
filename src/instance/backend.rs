//! Backend API `/v1/instance`: the instance and its stored settings.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{ApiError, ClerkJson, ErrorCode};
use crate::state::AppState;

/// Mounts the routes inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/instance", web::get().to(get))
        .route("/instance", web::patch().to(update));
}

async fn get(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "object": "instance",
        "id": state.instance.id,
        "environment_type": state.instance.environment.as_str(),
        "allowed_origins": state.settings.frontend.allowed_origins,
        // Clerk's schema requires it; a self-hosted instance belongs to no
        // Clerk workspace, which the schema spells `null`.
        "workspace_id": null,
    }))
}

/// `PATCH /v1/instance` body. Steward stores one instance setting so far;
/// Clerk's other fields are refused rather than silently ignored.
#[derive(Debug, Default, Deserialize)]
struct UpdateInstance {
    show_last_used_badge: Option<bool>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

async fn update(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<UpdateInstance>,
) -> Result<HttpResponse, ApiError> {
    if let Some(param) = body.other.keys().next() {
        return Err(ApiError::new(
            ErrorCode::FormParamUnknown,
            format!("{param} is not supported."),
            format!("{param} is not a setting this server stores; use its configuration file."),
        )
        .with_param(param));
    }
    if let Some(show) = body.show_last_used_badge {
        let state = state.into_inner();
        tokio::task::spawn_blocking(move || {
            crate::instance::set_show_last_used_badge(state.db.primary(), &state.instance, show)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    }
    Ok(HttpResponse::NoContent().finish())
}
