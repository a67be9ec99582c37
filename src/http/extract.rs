//! Request extractors that fail with Clerk-style errors instead of actix's
//! plain-text ones: JSON bodies and query strings, with the offending
//! parameter named in `meta.param_name`.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};

/// A JSON request body. An empty body reads as `{}` (Clerk's SDKs send no
/// body for calls such as `POST /users/{id}/ban`).
#[derive(Debug)]
pub struct ClerkJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ClerkJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = actix_web::web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(payload_error)?;
            let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else {
                &bytes
            };
            parse_json(text).map(ClerkJson)
        })
    }
}

/// Parses a JSON object into `T`, naming the failing field on type errors.
pub fn parse_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    if let Some(path) = super::nul::json_path_with_nul(text) {
        return Err(super::nul::refused(&path));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let names_a_field = matches!(
            error.path().iter().next(),
            Some(serde_path_to_error::Segment::Map { .. })
        );
        let inner = error.into_inner();
        let message = inner.to_string();
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            ApiError::param_missing(missing)
        } else if inner.is_data() && names_a_field && message.starts_with("unknown field") {
            ApiError::new(
                ErrorCode::FormParamUnknown,
                format!("{path} is not a valid parameter for this request."),
                format!("{path} is not a valid parameter for this request: {inner}"),
            )
            .with_param(&path)
        } else if inner.is_data() && names_a_field {
            ApiError::param_format(&path, format!("{path} is invalid: {inner}"))
        } else {
            ApiError::new(
                ErrorCode::MalformedRequestBody,
                "malformed request body",
                format!("The request body must be a JSON object: {inner}"),
            )
        }
    })?;
    deserializer.end().map_err(|inner| {
        ApiError::new(
            ErrorCode::MalformedRequestBody,
            "malformed request body",
            format!("The request body must be a single JSON object: {inner}"),
        )
    })?;
    Ok(value)
}

/// The error for a body that could not be read: 413 when it is larger than
/// `server.max_body_bytes`, 400 otherwise.
pub(super) fn payload_error(error: actix_web::Error) -> ApiError {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::new(
            ErrorCode::RequestBodyTooLarge,
            "request body too large",
            "The request body is larger than this server accepts.",
        ),
        _ => ApiError::new(
            ErrorCode::MalformedRequestBody,
            "malformed request body",
            format!("The request body could not be read: {error}"),
        ),
    }
}

/// Query-string parameters. Arrays are repeated keys (`user_id=a&user_id=b`),
/// as Clerk's SDKs send them.
#[derive(Debug)]
pub struct ClerkQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ClerkQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(ClerkQuery))
    }
}

/// Parses a query string into `T`, naming the failing parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some(param) = super::nul::query_param_with_nul(query) {
        return Err(super::nul::refused(&param));
    }
    let deserializer = serde_html_form::Deserializer::from_bytes(query.as_bytes());
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let param = query_param(&path, &inner);
        ApiError::param_format(&param, format!("{param} is invalid: {inner}"))
    })
}

/// The parameter a query-string error is about. An error inside a value
/// has its path (`limit`, `user_id[]`); one about the parameters as a whole
/// (`duplicate field `user_id``, from `user_id=x&user_id[]=y`) has the
/// empty path `.`, and serde names the field in backquotes.
fn query_param(path: &str, message: &str) -> String {
    let named = (path == ".")
        .then(|| message.split('`').nth(1))
        .flatten()
        .unwrap_or(path);
    named.trim_end_matches("[]").to_owned()
}

/// `limit` and `offset`, validated as Clerk does: limit 1–500 (default 10),
/// offset ≥ 0 (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub limit: i64,
    pub offset: i64,
}

impl Pagination {
    pub const DEFAULT_LIMIT: i64 = 10;
    pub const MAX_LIMIT: i64 = 500;

    /// Validates raw `limit` and `offset` parameters.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::param_value(
                "limit",
                format!("limit must be between 1 and {}.", Self::MAX_LIMIT),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::param_value(
                "offset",
                "offset must be zero or greater.",
            ));
        }
        Ok(Self { limit, offset })
    }
}

/// A field of a PATCH body: absent (leave as is), `null` (clear) or a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Null,
            Some(value) => Patch::Value(value),
        })
    }
}

impl<T> Patch<T> {
    /// The new value as an option (`Null` → `None`), or `None` when absent.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(v) => Some(Some(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        name: Option<String>,
        #[serde(default)]
        flag: Patch<bool>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": 5}"#).expect_err("type error");
        assert_eq!(err.code(), ErrorCode::FormParamFormatInvalid);
        assert_eq!(err.body()["errors"][0]["meta"]["param_name"], "name");
        let err = parse_json::<Body>(b"{nope").expect_err("syntax error");
        assert_eq!(err.code(), ErrorCode::MalformedRequestBody);
        let err = parse_json::<Body>(b"[1]").expect_err("not an object");
        assert_eq!(err.code(), ErrorCode::MalformedRequestBody);
        let body: Body = parse_json(br#"{"flag": null}"#).expect("valid");
        assert_eq!(body.flag, Patch::Null);
        assert!(body.name.is_none());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Query {
        #[serde(default)]
        user_id: Vec<String>,
        limit: Option<i64>,
    }

    #[test]
    fn query_arrays_and_errors() {
        let q: Query = parse_query("user_id=a&user_id=b&limit=5").expect("valid");
        assert_eq!(q.user_id, ["a", "b"]);
        assert_eq!(q.limit, Some(5));
        let err = parse_query::<Query>("limit=ten").expect_err("bad limit");
        assert_eq!(err.body()["errors"][0]["meta"]["param_name"], "limit");
        let err = parse_query::<Query>("limit=1&limit=2").expect_err("two limits");
        assert_eq!(err.body()["errors"][0]["meta"]["param_name"], "limit");
        assert!(Pagination::new(Some(0), None).is_err());
        assert!(Pagination::new(Some(501), None).is_err());
        assert!(Pagination::new(None, Some(-1)).is_err());
        assert_eq!(
            Pagination::new(None, None).expect("defaults"),
            Pagination {
                limit: 10,
                offset: 0
            }
        );
    }
}
