//! Backend API authentication: `Authorization: Bearer sk_…` on every `/v1`
//! route of the Backend API listener.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use super::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Middleware: lets the request through only with a valid secret key.
pub async fn require_secret_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<AppState>>() {
        Some(state) => check(&req, state).await,
        None => Err(ApiError::internal("application state missing")),
    };
    match verdict {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

async fn check(req: &ServiceRequest, state: &AppState) -> Result<(), ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Some(key) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty())
    else {
        return Err(ApiError::new(
            ErrorCode::AuthorizationHeaderFormatInvalid,
            "Invalid Authorization header format",
            "Invalid Authorization header format. Must be \"Bearer <YOUR_SECRET_KEY>\"",
        ));
    };
    if state.secret_keys.is_valid(key).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ClerkKeyInvalid,
            "Secret key invalid",
            "The provided secret key is invalid. Make sure that your secret key is correct.",
        ))
    }
}
