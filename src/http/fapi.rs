//! Frontend API transport, as Clerk's browser and mobile SDKs speak it.
//!
//! - Bodies are form-urlencoded or JSON ([`FapiForm`]).
//! - Browsers hold the client in the HttpOnly `__client` cookie; native apps
//!   send the client JWT in `Authorization` (raw or `Bearer`) with
//!   `_is_native=1|true`, and read the current one back from the response's
//!   `Authorization` header.
//! - State-changing browser requests must come from an allowed `Origin`.
//! - Responses are wrapped as `{response, client}` ([`reply`]).
//!
//! A client token is an HS256 JWT naming the client. A token that does not
//! verify, or names a client that no longer exists, is simply ignored: the
//! request proceeds as a new client and never reaches someone else's.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::{ContentType, HeaderValue, AUTHORIZATION, CONTENT_TYPE, ORIGIN};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::{ready, Either, LocalBoxFuture, Ready};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{ApiError, ErrorCode};
use super::extract::{parse_json, parse_query, payload_error};
use crate::state::AppState;

/// The web client cookie.
pub const CLIENT_COOKIE: &str = "__client";
/// How long the client cookie lives, in days.
const CLIENT_COOKIE_DAYS: i64 = 365;

/// The caller of a Frontend API request.
#[derive(Debug, Clone)]
pub struct FapiCaller {
    /// A native app (`_is_native`), answered through the `Authorization` header.
    pub native: bool,
    /// The client its token names, when the token verified.
    pub client_id: Option<String>,
    /// That verified token, handed back as it is while its client stays
    /// the same (see [`attach_client_token`]).
    client_token: Option<PresentedToken>,
    /// The request's `Origin` (the token's `azp`).
    pub origin: Option<String>,
    /// `_clerk_session_id`: the session the caller acts as, when it has several.
    pub session_id: Option<String>,
}

/// A verified client token as the request carried it, to hand back.
#[derive(Debug, Clone)]
enum PresentedToken {
    /// A native app's `Authorization` value, when it is the bare token: it
    /// goes back in the response's `Authorization` header as it is, with no
    /// copy and no second validation of its bytes.
    Header(HeaderValue),
    /// A browser's `__client` cookie, or a `Bearer`-prefixed header.
    Text(String),
}

impl PresentedToken {
    fn into_text(self) -> String {
        match self {
            Self::Header(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
            Self::Text(text) => text,
        }
    }
}

/// The Frontend API's own query parameters, found in one pass.
#[derive(Debug, Default)]
struct FapiQuery<'a> {
    /// `_is_native=1|true`.
    native: bool,
    /// `_clerk_session_id`, when not empty.
    session_id: Option<&'a str>,
}

impl<'a> FapiQuery<'a> {
    fn parse(query: &'a str) -> Self {
        let mut parsed = Self::default();
        for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            match key {
                "_is_native" => parsed.native |= value == "1" || value == "true",
                "_clerk_session_id" if parsed.session_id.is_none() && !value.is_empty() => {
                    parsed.session_id = Some(value);
                }
                _ => {}
            }
        }
        parsed
    }
}

impl FapiCaller {
    /// The same caller, answered with a newly issued client token rather
    /// than the one it presented.
    pub fn with_new_client_token(mut self) -> Self {
        self.client_token = None;
        self
    }

    fn resolve(req: &HttpRequest, state: &AppState) -> Result<Self, ApiError> {
        let query = FapiQuery::parse(req.query_string());
        let native = query.native;
        let origin_header = req.headers().get(ORIGIN);
        if !native && req.method() != Method::GET {
            if let Some(value) = origin_header {
                // Any Origin a browser sent and this instance does not list
                // is refused, `null` included: a sandboxed iframe or a
                // `data:` page sends it, and it names no one who could be
                // allowed.
                let allowed = value.to_str().is_ok_and(|o| origin_allowed(state, o));
                if !allowed {
                    return Err(ApiError::new(
                        ErrorCode::OriginInvalid,
                        "Origin not allowed",
                        format!(
                            "Requests from {} are not allowed by this instance.",
                            String::from_utf8_lossy(value.as_bytes())
                        ),
                    ));
                }
            }
        }
        // The token's `azp`: an origin that names a site, never `null`.
        let origin = origin_header
            .and_then(|v| v.to_str().ok())
            .filter(|o| !o.is_empty() && *o != "null")
            .map(str::to_owned);
        let (client_id, client_token) = if native {
            req.headers()
                .get(AUTHORIZATION)
                .and_then(|value| native_client(state, value))
        } else {
            req.cookie(CLIENT_COOKIE).and_then(|cookie| {
                let client_id = verified_client(state, cookie.value())?;
                Some((client_id, PresentedToken::Text(cookie.value().to_owned())))
            })
        }
        .map_or((None, None), |(id, token)| (Some(id), Some(token)));
        Ok(Self {
            native,
            client_id,
            client_token,
            origin,
            session_id: query.session_id.map(str::to_owned),
        })
    }
}

/// The client a client token names, if the token verifies.
fn verified_client(state: &AppState, token: &str) -> Option<String> {
    (!token.is_empty())
        .then(|| state.instance.client_tokens.client_of(token))
        .flatten()
}

/// The client of a native app's `Authorization` value: the bare token, or
/// `Bearer ` and the token (surrounding spaces ignored).
fn native_client(state: &AppState, value: &HeaderValue) -> Option<(String, PresentedToken)> {
    // `from_utf8` rather than `to_str`, which checks byte by byte: this
    // runs on every native token request, and the token's signature checks
    // every byte anyway.
    let text = std::str::from_utf8(value.as_bytes()).ok()?;
    let token = text.strip_prefix("Bearer ").unwrap_or(text).trim();
    let client_id = verified_client(state, token)?;
    let presented = if token.len() == text.len() {
        PresentedToken::Header(value.clone())
    } else {
        PresentedToken::Text(token.to_owned())
    };
    Some((client_id, presented))
}

/// Whether browsers on `origin` may change state: the public URL's origin
/// and `frontend.allowed_origins`.
pub fn origin_allowed(state: &AppState, origin: &str) -> bool {
    origin == state.public_url
        || state
            .settings
            .frontend
            .allowed_origins
            .iter()
            .any(|o| o == origin)
}

impl FromRequest for FapiCaller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let outcome = match req.app_data::<web::Data<AppState>>() {
            Some(state) => Self::resolve(req, state),
            None => Err(ApiError::internal("application state missing")),
        };
        std::future::ready(outcome)
    }
}

/// A Frontend API body: form-urlencoded (what Clerk's SDKs send) or JSON.
#[derive(Debug)]
pub struct FapiForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for FapiForm<T> {
    type Error = ApiError;
    type Future =
        Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        // A request without a body (the usual token request) is parsed at
        // once, without a body reader and a boxed future.
        if matches!(payload, Payload::None) {
            return Either::Left(ready(parse_body(is_json, &[]).map(FapiForm)));
        }
        let body = web::Bytes::from_request(req, payload);
        Either::Right(Box::pin(async move {
            let bytes = body.await.map_err(payload_error)?;
            parse_body(is_json, &bytes).map(FapiForm)
        }))
    }
}

/// A body as JSON (when it says so and is not blank) or as a form.
fn parse_body<T: DeserializeOwned>(is_json: bool, bytes: &[u8]) -> Result<T, ApiError> {
    if is_json && !bytes.iter().all(u8::is_ascii_whitespace) {
        return parse_json(bytes);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::MalformedRequestBody,
            "malformed request body",
            "The request body is not valid UTF-8.",
        )
    })?;
    parse_query(text)
}

/// Builds the `{response, client}` envelope and hands the client its token:
/// a fresh `__client` cookie for browsers, the `Authorization` header for
/// native apps. `client` is the client object, already written out as JSON
/// (it is often the response too), or `None` after sign-out.
pub fn reply<R: Serialize + ?Sized>(
    state: &AppState,
    caller: &FapiCaller,
    response: &R,
    client_id: Option<&str>,
    client: Option<&RawValue>,
) -> HttpResponse {
    #[derive(Serialize)]
    struct Envelope<'a, R: ?Sized> {
        response: &'a R,
        client: Option<&'a RawValue>,
    }
    let mut builder = HttpResponse::Ok();
    attach_client_token(state, caller, client_id, &mut builder);
    match serde_json::to_vec(&Envelope { response, client }) {
        Ok(body) => builder.content_type(ContentType::json()).body(body),
        Err(error) => ApiError::internal(error).error_response(),
    }
}

/// Sets the client token on a response (or clears the cookie when there is
/// no client any more), and marks the response private
/// ([`super::private_response`]): it carries the client's credentials. A caller whose token already names this client gets
/// that token back: it stays valid for as long as the client exists, and
/// the token path, where this runs on every page load, is spared an HMAC
/// and two JSON encodings.
pub fn attach_client_token(
    state: &AppState,
    caller: &FapiCaller,
    client_id: Option<&str>,
    builder: &mut actix_web::HttpResponseBuilder,
) {
    super::private_response(builder);
    let presented = caller
        .client_token
        .as_ref()
        .filter(|_| client_id.is_some() && client_id == caller.client_id.as_deref());
    if let Some(token) = presented {
        match token {
            PresentedToken::Header(value) if caller.native => {
                builder.insert_header((AUTHORIZATION, value.clone()));
            }
            _ => set_client_token(
                state,
                caller.native,
                Some(token.clone().into_text()),
                builder,
            ),
        }
        return;
    }
    let token = client_id.and_then(|id| {
        match state
            .instance
            .client_tokens
            .issue(id, chrono::Utc::now().timestamp())
        {
            Ok(token) => Some(token),
            Err(error) => {
                tracing::error!(%error, "client token signing failed");
                None
            }
        }
    });
    set_client_token(state, caller.native, token, builder);
}

/// The `Authorization` header (native) or `__client` cookie (browser) for
/// `token`; for a browser without a client, the cookie's removal.
fn set_client_token(
    state: &AppState,
    native: bool,
    token: Option<String>,
    builder: &mut actix_web::HttpResponseBuilder,
) {
    if native {
        if let Some(token) = token {
            builder.insert_header((AUTHORIZATION, token));
        }
        return;
    }
    let secure = state.public_url.starts_with("https://");
    match token {
        Some(token) => {
            builder.cookie(
                Cookie::build(CLIENT_COOKIE, token)
                    .path("/")
                    .http_only(true)
                    .secure(secure)
                    .same_site(SameSite::Lax)
                    .max_age(actix_web::cookie::time::Duration::days(CLIENT_COOKIE_DAYS))
                    .finish(),
            );
        }
        None => {
            let mut gone = Cookie::build(CLIENT_COOKIE, "")
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .finish();
            gone.make_removal();
            builder.cookie(gone);
        }
    }
}

/// Middleware: a POST with `?_method=PATCH|PUT|DELETE` is routed as that
/// method. Clerk's browser SDK sends only GET and POST (a Safari CORS
/// work-around) and names the real method this way.
pub async fn method_override(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if req.method() == Method::POST {
        let wanted = req
            .query_string()
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some(("_method", "PATCH")) => Some(Method::PATCH),
                Some(("_method", "PUT")) => Some(Method::PUT),
                Some(("_method", "DELETE")) => Some(Method::DELETE),
                _ => None,
            });
        if let Some(method) = wanted {
            req.head_mut().method = method;
        }
    }
    next.call(req).await
}

/// CORS for browsers on the allowed origins (the public URL's and
/// `frontend.allowed_origins`): credentialed requests, Clerk's methods, and
/// the `Authorization` and trace headers readable by the page. Requests from
/// other origins get no CORS headers; state-changing ones are refused by
/// [`FapiCaller`] with 403.
pub fn cors(settings: &crate::config::Settings) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allow_any_header()
        .expose_headers([AUTHORIZATION.as_str(), super::trace::TRACE_HEADER])
        .supports_credentials()
        .max_age(3600);
    cors = cors.allowed_origin(&settings.public_url());
    for origin in &settings.frontend.allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::FapiQuery;

    #[test]
    fn the_query_is_read_in_one_pass() {
        let query =
            FapiQuery::parse("_clerk_js_version=5&_is_native=true&_clerk_session_id=sess_1");
        assert!(query.native);
        assert_eq!(query.session_id, Some("sess_1"));

        let query = FapiQuery::parse(
            "_is_native=1&_is_native=0&_clerk_session_id=&_clerk_session_id=sess_2",
        );
        assert!(
            query.native,
            "any `_is_native=1|true` makes the caller native"
        );
        assert_eq!(
            query.session_id,
            Some("sess_2"),
            "the first non-empty session id"
        );

        let query = FapiQuery::parse("_is_native&_is_native=yes&x=1");
        assert!(!query.native);
        assert_eq!(query.session_id, None);
        assert!(!FapiQuery::parse("").native);
    }
}
