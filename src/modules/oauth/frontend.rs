//! Frontend API routes: the callback providers send the browser back to.
//! It needs no client: the answer is tied to its sign-in by `state`.

use actix_web::dev::Service;
use actix_web::http::header::{LOCATION, ORIGIN};
use actix_web::{web, HttpRequest, HttpResponse};

use super::callback::{self, CallbackParams};
use crate::http::fapi::FapiForm;
use crate::http::{ApiError, ClerkQuery};
use crate::state::AppState;

/// Mounts the routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth_callback")
            // A provider that posts its answer does so from its own page,
            // whose Origin is no app's: the `state` is what is trusted.
            .wrap_fn(|mut req, service| {
                req.headers_mut().remove(ORIGIN);
                service.call(req)
            })
            .route(web::get().to(get))
            .route(web::post().to(post)),
    );
}

async fn get(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<CallbackParams>,
) -> HttpResponse {
    callback::handle(&state, params).await
}

/// A posted answer goes to the GET with the same parameters (Clerk does
/// the same), where the browser's own navigation carries on.
async fn post(
    req: HttpRequest,
    FapiForm(params): FapiForm<CallbackParams>,
) -> Result<HttpResponse, ApiError> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("code", &params.code),
        ("state", &params.state),
        ("error", &params.error),
        ("error_description", &params.error_description),
        ("scope", &params.scope),
        ("iss", &params.iss),
    ] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    let target = format!("{}?{}", req.path(), query.finish());
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, target))
        .finish())
}
