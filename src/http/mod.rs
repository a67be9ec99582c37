//! HTTP foundations shared by every module: Clerk-style errors, extractors,
//! trace ids, Backend API authentication and the health endpoints.

pub mod backend_auth;
pub mod error;
mod error_code;
pub mod extract;
pub mod fapi;
pub mod health;
pub mod nul;
pub mod trace;

use actix_web::http::header::{HeaderValue, CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};

pub use error::{ApiError, ErrorCode};
pub use extract::{ClerkJson, ClerkQuery, Pagination, Patch};

/// `Cache-Control: no-store`, built once: a clone of a static value is a
/// pointer copy.
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
/// `X-Content-Type-Options: nosniff`.
static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

/// Marks a response that carries credentials (a session token, a client
/// and its client token) as not to be stored by any cache, and its JSON
/// as not to be sniffed as anything else. Both values are static and the
/// response's header map has room for them, so the token path allocates
/// nothing for them.
pub fn private_response(builder: &mut actix_web::HttpResponseBuilder) {
    builder
        .insert_header((CACHE_CONTROL, NO_STORE.clone()))
        .insert_header((X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone()));
}
