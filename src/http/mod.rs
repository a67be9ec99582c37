//! HTTP foundations shared by every module: Clerk-style errors, extractors,
//! trace ids, Backend API authentication and the health endpoints.

pub mod backend_auth;
pub mod error;
pub mod extract;
pub mod fapi;
pub mod health;
pub mod nul;
pub mod trace;

pub use error::{ApiError, ErrorCode};
pub use extract::{ClerkJson, ClerkQuery, Pagination, Patch};
