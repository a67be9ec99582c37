//! Clerk-style API errors.
//!
//! Every failure a client can see is an [`ApiError`] with a stable snake_case
//! [`ErrorCode`], rendered as
//! `{"errors":[{"code","message","long_message","meta"}],"clerk_trace_id"}`
//! with the matching status. Validation errors name the offending parameter
//! in `meta.param_name`, as Clerk's SDKs expect.
//!
//! An error caused by something the client cannot see (a failed query, an
//! unreachable database, a bug) carries that cause as its source. The cause
//! is logged once, with its chain, when the response is written, inside the
//! request's span so the line carries the trace id; it never reaches the
//! body. Code that handles an `ApiError` without answering with it (a
//! retry, a failover) therefore logs nothing it then throws away.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

use crate::db::DbError;
use crate::http::trace::current_trace_id;

pub use super::error_code::ErrorCode;

/// The cause of an error, shared so that an error handed to several
/// waiters (see the session token reader) keeps it.
type Source = Arc<dyn StdError + Send + Sync>;

/// One API error, ready to render.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    long_message: Cow<'static, str>,
    meta: Map<String, Value>,
    retry_after_secs: Option<u64>,
    /// A status other than the code's, for errors that keep the status
    /// something else chose ([`for_foreign_response`]).
    status: Option<StatusCode>,
    /// What caused it, for the log only (see the module docs).
    source: Option<Source>,
}

/// The code and long message, then the cause and its sources, so that a
/// background job logging an `ApiError` it cannot answer with shows why.
/// Never part of a response body.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.long_message)?;
        if let Some(source) = &self.source {
            write!(f, " (caused by: {})", Chain(source.as_ref()))?;
        }
        Ok(())
    }
}

/// An error and its sources, joined by `: `.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(error) = next {
            write!(f, ": {error}")?;
            next = error.source();
        }
        Ok(())
    }
}

impl ApiError {
    /// An error with the given code and messages.
    pub fn new(
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
        long_message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            long_message: long_message.into(),
            meta: Map::new(),
            retry_after_secs: None,
            status: None,
            source: None,
        }
    }

    /// Keeps `cause` as the error's source: logged when the response is
    /// written, never sent.
    pub fn with_source(mut self, cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(Arc::from(cause.into()));
        self
    }

    /// Names the parameter the error is about (`meta.param_name`).
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.meta
            .insert("param_name".to_owned(), Value::String(param.into()));
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds a `meta` entry (e.g. `lockout_expires_in_seconds`).
    pub fn with_meta(mut self, key: &str, value: Value) -> Self {
        self.meta.insert(key.to_owned(), value);
        self
    }

    /// Answers with `status` instead of the code's own.
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// 404 for an object that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            ErrorCode::ResourceNotFound,
            "not found",
            format!("No {what} was found with this identifier."),
        )
    }

    /// 422 for an absent required parameter.
    pub fn param_missing(param: &str) -> Self {
        Self::new(
            ErrorCode::FormParamMissing,
            format!("{param} must be included."),
            format!("{param} must be included."),
        )
        .with_param(param)
    }

    /// 422 for a parameter of the wrong type or shape.
    pub fn param_format(param: &str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            ErrorCode::FormParamFormatInvalid,
            format!("{param} is invalid."),
            detail,
        )
        .with_param(param)
    }

    /// 422 for a well-formed parameter whose value is not allowed.
    pub fn param_value(param: &str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            ErrorCode::FormParamValueInvalid,
            format!("{param} is invalid."),
            detail,
        )
        .with_param(param)
    }

    /// 422 for a parameter longer than `max` characters.
    pub fn param_too_long(param: &str, max: usize) -> Self {
        Self::new(
            ErrorCode::FormParamMaxLengthExceeded,
            format!("{param} is too long."),
            format!("{param} must be at most {max} characters long."),
        )
        .with_param(param)
    }

    /// 422 for an identifier already taken by another user.
    pub fn identifier_exists(param: &str, what: &str) -> Self {
        Self::new(
            ErrorCode::FormIdentifierExists,
            format!("That {what} is taken. Please try another."),
            format!("That {what} is taken. Please try another."),
        )
        .with_param(param)
    }

    /// 503 with a short `Retry-After`: a database is unreachable.
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::ServiceUnavailable,
            "service unavailable",
            "The service is temporarily unavailable. Please retry shortly.",
        )
        .with_retry_after(1)
    }

    /// 500 for a failure that is Steward's fault. The cause is kept as the
    /// source: logged when the response is written, never sent.
    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::new(
            ErrorCode::InternalServerError,
            "internal error",
            "Something went wrong on the server. The error has been logged.",
        )
        .with_source(cause)
    }

    /// Logs the source, if any, with its chain: an error for a 5xx, a
    /// warning otherwise (an unreachable database is the operator's
    /// business, not a bug).
    fn log_source(&self) {
        let Some(source) = &self.source else {
            return;
        };
        let cause = Chain(source.as_ref());
        if self.code == ErrorCode::InternalServerError {
            tracing::error!(code = self.code.as_str(), %cause, "request failed");
        } else {
            tracing::warn!(code = self.code.as_str(), %cause, "request failed");
        }
    }

    /// The JSON body, with the current request's trace id.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "long_message": self.long_message,
        });
        if !self.meta.is_empty() {
            error["meta"] = Value::Object(self.meta.clone());
        }
        let mut body = json!({ "errors": [error] });
        if let Some(trace_id) = current_trace_id() {
            body["clerk_trace_id"] = Value::String(trace_id);
        }
        body
    }
}

/// The Clerk-style error for a response that reached the client through
/// Steward's middleware without one: a refused CORS preflight (actix-cors
/// writes `text/plain`), or an error actix wrote without a body. The status
/// stays what it was.
pub fn for_foreign_response(status: StatusCode, cause: Option<&actix_web::Error>) -> ApiError {
    if let Some(cors) = cause.and_then(|e| e.as_error::<actix_cors::CorsError>()) {
        // A foreign origin gets the 403 a state-changing request from it
        // gets; a malformed preflight from an allowed one keeps its 400.
        return match cors {
            actix_cors::CorsError::OriginNotAllowed => ApiError::new(
                ErrorCode::OriginInvalid,
                "Origin not allowed",
                "Requests from this origin are not allowed by this instance.",
            ),
            other => ApiError::new(ErrorCode::BadRequest, "bad request", other.to_string())
                .with_status(status),
        };
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::ResourceNotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::RequestBodyTooLarge,
        s if s.is_server_error() => ErrorCode::InternalServerError,
        _ => ErrorCode::BadRequest,
    };
    let reason = status.canonical_reason().unwrap_or("error");
    let long_message = match cause {
        Some(cause) if !status.is_server_error() => cause.to_string(),
        _ => format!("The request could not be served: {reason}."),
    };
    ApiError::new(code, reason.to_lowercase(), long_message).with_status(status)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// Actix calls this once per failed request, inside the request span,
    /// which makes it the one place the source is logged.
    fn error_response(&self) -> HttpResponse {
        self.log_source();
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(e) => Self::unavailable().with_source(e),
            DbError::Cancelled => Self::unavailable(),
            DbError::ResultLost => Self::new(
                ErrorCode::ServiceUnavailable,
                "result unavailable",
                "The change was saved, but its result was lost with the database connection. Read the resource again instead of repeating the change.",
            ),
            DbError::Query(e) => Self::from(e),
        }
    }
}

impl crate::db::Transient for ApiError {
    /// Database failures become 503 `service_unavailable` (see the
    /// `From<DbError>` conversion); no other error of a query is transient,
    /// so this is also what read failover treats as an unreachable database.
    fn is_transient(&self) -> bool {
        self.code() == ErrorCode::ServiceUnavailable
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::not_found("resource"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::new(
                ErrorCode::Conflict,
                "conflict",
                "This change conflicts with a concurrent change. Please retry.",
            ),
            lost if crate::db::is_connection_error(&lost) => Self::unavailable().with_source(lost),
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
