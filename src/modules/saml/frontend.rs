//! Frontend API routes: each connection's SP metadata and its assertion
//! consumer service. Neither needs a client: an IdP fetches the metadata,
//! and the browser's post to the ACS is cross-site (no cookie).

use actix_web::dev::Service;
use actix_web::http::header::ORIGIN;
use actix_web::{web, HttpResponse};

use super::acs::{self, AcsForm};
use super::model::SpEndpoints;
use super::{connections, sp_metadata, SamlState};
use crate::http::fapi::{FapiCaller, FapiForm};
use crate::http::ApiError;
use crate::state::AppState;

/// Mounts the routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/saml/metadata/{file}", web::get().to(metadata))
        .service(
            web::resource("/saml/acs/{id}")
                // The browser posts from the IdP's page, so its Origin is
                // the IdP's (or `null`), never one this instance lists: it
                // is not checked here. The answer's signature and its
                // single-use request are what make the post trusted.
                .wrap_fn(|mut req, service| {
                    req.headers_mut().remove(ORIGIN);
                    service.call(req)
                })
                .route(web::post().to(consume)),
        );
}

/// `GET /v1/saml/metadata/{id}.xml`.
async fn metadata(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = file
        .strip_suffix(".xml")
        .ok_or_else(|| ApiError::not_found("SAML connection"))?
        .to_owned();
    let connection = connections::find(&state, id).await?;
    let saml = SamlState::of(&state)?;
    let key = saml.sp.get(&state).await?;
    let sp = SpEndpoints::of(&state.public_url, &connection.row.id);
    let xml = sp_metadata::document(&sp, key, saml.settings.sign_authn_requests)?;
    Ok(HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(xml))
}

/// `POST /v1/saml/acs/{id}` (HTTP-POST binding).
async fn consume(
    state: web::Data<AppState>,
    caller: FapiCaller,
    id: web::Path<String>,
    FapiForm(form): FapiForm<AcsForm>,
) -> HttpResponse {
    acs::consume(&state, caller, id.into_inner(), form).await
}
