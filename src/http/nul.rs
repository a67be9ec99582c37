//! Refuses NUL characters in request input. PostgreSQL's text type cannot
//! hold one: a value carrying it, bound to any query, failed there as a
//! server error (SQLite stored or compared it). No identifier, address or
//! name Steward keeps can contain one, so such input is refused up front,
//! on both databases alike: 422 naming the parameter, or 404 for a path
//! (no object's id contains one).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use serde_json::Value;

use super::error::ApiError;

/// Middleware: 404 for a path with a NUL in it. Query strings and bodies
/// are checked where they are parsed (`parse_query`, `parse_json`), which
/// name the parameter.
pub async fn refuse_nul_in_path(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if has_encoded_nul(req.path()) {
        let error = ApiError::not_found("resource");
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The 422 for `param`.
pub fn refused(param: &str) -> ApiError {
    ApiError::param_format(param, format!("{param} must not contain NUL characters."))
}

/// A percent-encoded NUL (a raw one cannot be in a URI).
fn has_encoded_nul(raw: &str) -> bool {
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// The name (without `[]`) of the first parameter of a query string or a
/// form body whose name or value holds a NUL.
pub fn query_param_with_nul(query: &str) -> Option<String> {
    if !has_encoded_nul(query) {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_html_form::from_str(query).ok()?;
    pairs
        .into_iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.trim_end_matches("[]").replace('\0', ""))
}

/// The path (`a.b[0]`) of the first string, or key, of a JSON body that
/// holds a NUL; JSON can only carry one escaped, as `\u0000`.
pub fn json_path_with_nul(body: &[u8]) -> Option<String> {
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    find(&value, String::new())
}

fn find(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let name = if path.is_empty() {
                key.replace('\0', "")
            } else {
                format!("{path}.{}", key.replace('\0', ""))
            };
            if key.contains('\0') {
                Some(name)
            } else {
                find(item, name)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_parameter_holding_a_nul() {
        assert_eq!(query_param_with_nul("a=1&b=x%00y"), Some("b".into()));
        assert_eq!(query_param_with_nul("role[]=%00"), Some("role".into()));
        assert_eq!(query_param_with_nul("a=%2500"), None);
        assert_eq!(query_param_with_nul("a=1"), None);
        assert!(has_encoded_nul("/v1/organizations/a%00"));
        assert_eq!(
            json_path_with_nul(br#"{"name":"ok","meta":{"list":["x","a\u0000"]}}"#),
            Some("meta.list[1]".into())
        );
        assert_eq!(json_path_with_nul(br#"{"name":"a\\u0000"}"#), None);
        assert_eq!(json_path_with_nul(br#"{"name":"ok"}"#), None);
    }
}
