//! The JSON Web Key Set that verifies session tokens: served on the Frontend
//! API at `/.well-known/jwks.json` and on the Backend API at `/v1/jwks`.

use actix_web::{web, HttpResponse};

use crate::state::AppState;
use crate::time::now_ms;

/// `GET /.well-known/jwks.json` and `GET /v1/jwks`.
pub async fn get_jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=60"))
        .json(state.instance.keys.jwks(now_ms()))
}
