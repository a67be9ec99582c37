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
    )
    .route("/me/external_accounts", web::post().to(connect));
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

/// `POST /v1/me/external_accounts` parameters.
#[derive(Debug, Default, serde::Deserialize)]
struct ConnectParams {
    strategy: Option<String>,
    redirect_url: Option<String>,
    /// Accepted as clerk-js sends it; the browser returns to `redirect_url`.
    #[allow(dead_code)]
    action_complete_redirect_url: Option<String>,
    /// clerk-js sends it as repeated keys.
    #[serde(default)]
    additional_scope: Vec<String>,
    /// OpenID Connect's `prompt`; accepted, not forwarded.
    #[allow(dead_code)]
    oidc_prompt: Option<String>,
}

/// `POST /v1/me/external_accounts`: connects another provider to the
/// signed-in user. The answer is the account-to-be with the provider's URL
/// on its verification (clerk-js and the Android SDK go there); the
/// callback connects it.
async fn connect(
    state: web::Data<AppState>,
    me: crate::fapi::SignedIn,
    FapiForm(params): FapiForm<ConnectParams>,
) -> Result<HttpResponse, ApiError> {
    let strategy = params
        .strategy
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::param_missing("strategy"))?;
    if super::providers::Provider::of(&strategy).is_none() {
        return Err(ApiError::param_value(
            "strategy",
            "strategy must be an oauth_<provider> strategy.",
        ));
    }
    let redirect_url = crate::modules::signin::external::check_redirect_url(
        &state,
        params.redirect_url.as_deref(),
        me.caller.native,
    )?;
    if params.additional_scope.len() > 20
        || params
            .additional_scope
            .iter()
            .any(|s| s.is_empty() || s.len() > 256 || s.contains(char::is_whitespace))
    {
        return Err(ApiError::param_value(
            "additional_scope",
            "additional_scope must be up to 20 scope names.",
        ));
    }
    let connection = super::connections::enabled(&state, &strategy).await?;
    let (url, expire_at) = super::flow::authorize(
        &state,
        &connection,
        super::flow::Purpose::Connect(me.user_id.clone()),
        super::flow::Origin {
            client_id: me.client_id.clone(),
            redirect_url,
            native: me.caller.native,
        },
        &params.additional_scope,
    )
    .await?;
    let now = crate::time::now_ms();
    let pending = serde_json::json!({
        "object": "external_account",
        "id": "",
        "provider": strategy,
        "identification_id": "",
        "provider_user_id": "",
        "approved_scopes": "",
        "email_address": "",
        "first_name": "",
        "last_name": "",
        "image_url": null,
        "username": null,
        "public_metadata": {},
        "label": null,
        "verification": {
            "object": "verification_oauth",
            "status": "unverified",
            "strategy": strategy,
            "external_verification_redirect_url": url,
            "error": null,
            "expire_at": expire_at,
            "attempts": null,
        },
        "created_at": now,
        "updated_at": now,
    });
    crate::fapi::envelope(&state, &me.caller, pending, me.client_id.as_str()).await
}
