//! The JSON Web Key Set that verifies session tokens: served on the Frontend
//! API at `/.well-known/jwks.json` and on the Backend API at `/v1/jwks`.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::state::AppState;

/// The JWKS document for the instance's published keys.
pub fn document(state: &AppState) -> Value {
    let keys: Vec<Value> = state
        .instance
        .signing_keys
        .iter()
        .map(|key| {
            let (n, e) = key.public_components();
            json!({ "use": "sig", "kty": "RSA", "kid": key.kid, "alg": "RS256", "n": n, "e": e })
        })
        .collect();
    json!({ "keys": keys })
}

/// `GET /.well-known/jwks.json` and `GET /v1/jwks`.
pub async fn get_jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=60"))
        .json(document(&state))
}
