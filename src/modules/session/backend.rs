//! Backend API handlers: `/v1/sessions` and `/v1/clients` (`POST
//! /v1/sessions`, which checks the user first, is in `crate::bapi`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::model::{status, SessionObject};
use super::service;
use super::store::SessionFilter;
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::ids::SessionId;
use crate::state::AppState;
use crate::time::now_ms;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(list))
        .route("/sessions/{id}", web::get().to(get))
        .route("/sessions/{id}/revoke", web::post().to(revoke))
        .route("/sessions/{id}/tokens", web::post().to(token))
        .route("/clients", web::get().to(list_clients))
        .route("/clients/{id}", web::get().to(get_client));
}

const STATUSES: [&str; 7] = [
    status::ACTIVE,
    status::REVOKED,
    status::ENDED,
    status::EXPIRED,
    status::REMOVED,
    status::ABANDONED,
    status::REPLACED,
];

/// `GET /v1/sessions` parameters.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    user_id: Option<String>,
    client_id: Option<String>,
    status: Option<String>,
    #[serde(default)]
    paginated: bool,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(state: web::Data<AppState>, ClerkQuery(params): ClerkQuery<ListParams>) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    if let Some(s) = &params.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::param_value(
                "status",
                format!("status must be one of {}.", STATUSES.join(", ")),
            ));
        }
    }
    if params.user_id.is_none() && params.client_id.is_none() {
        return Err(ApiError::param_missing("user_id"));
    }
    let now = now_ms();
    let filter = SessionFilter {
        user_id: params.user_id,
        client_id: params.client_id,
        status: params.status,
        now,
    };
    let (rows, total) = service::list_sessions(&state, filter, page).await?;
    let data: Vec<SessionObject> = rows
        .iter()
        .map(|r| SessionObject::from_row(r, now))
        .collect();
    Ok(if params.paginated {
        HttpResponse::Ok().json(json!({ "data": data, "total_count": total }))
    } else {
        HttpResponse::Ok().json(data)
    })
}

async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let session = service::get_session(&state, SessionId::from(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(SessionObject::from_row(&session, now_ms())))
}

async fn revoke(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let session = service::finish(&state, None, path.into_inner(), status::REVOKED).await?;
    Ok(HttpResponse::Ok().json(SessionObject::from_row(&session, now_ms())))
}

/// `POST /v1/sessions/{id}/tokens` body.
#[derive(Debug, Default, Deserialize)]
struct TokenParams {
    expires_in_seconds: Option<i64>,
}

async fn token(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<TokenParams>,
) -> Reply {
    if let Some(secs) = body.expires_in_seconds {
        if !(30..=315_360_000).contains(&secs) {
            return Err(ApiError::param_value(
                "expires_in_seconds",
                "expires_in_seconds must be between 30 and 315360000.",
            ));
        }
    }
    let token = service::session_token(
        &state,
        None,
        path.into_inner(),
        None,
        body.expires_in_seconds,
        None,
    )
    .await?;
    Ok(token.into_response())
}

/// `GET /v1/clients` parameters.
#[derive(Debug, Default, Deserialize)]
struct ClientListParams {
    #[serde(default)]
    paginated: bool,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_clients(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<ClientListParams>,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = service::list_clients(&state, page).await?;
    Ok(if params.paginated {
        HttpResponse::Ok().json(json!({ "data": data, "total_count": total }))
    } else {
        HttpResponse::Ok().json(data)
    })
}

async fn get_client(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(service::get_backend_client(&state, path.into_inner()).await?))
}
