//! The assertion consumer service: `POST /v1/saml/acs/{id}`, where the
//! browser brings the IdP's answer (HTTP-POST binding).
//!
//! The post is cross-site, so the browser's client cookie is not sent: the
//! answer's `InResponseTo` (and RelayState, which repeats it) finds the
//! outstanding request, which names the sign-in and client. The answer is
//! checked in full ([`response::verify`]), the request used up and the
//! assertion's id recorded (one transaction), the user found, linked or
//! created, added to the connection's organization, and the sign-in
//! finished; the browser then goes back to the `redirect_url` the sign-in
//! was started with. A refused answer marks the sign-in failed with the
//! reason, is logged and counted, and creates nothing.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::connections::{self, serves_email};
use super::model::{Connection, SpEndpoints};
use super::requests::{self, Refusal, RequestRow};
use super::response::{self, Expectation, Invalid, VerifiedAssertion};
use super::SamlState;
use crate::http::fapi::{attach_client_token, FapiCaller};
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientId, OrgIdOrSlug, SignInId, UserId};
use crate::modules::orgs;
use crate::modules::session::service as sessions;
use crate::modules::signin::external as signin;
use crate::modules::users::service::{
    self as users, EnterpriseIdentity, EnterpriseSignIn, ExternalIdentity,
};
use crate::state::AppState;

/// The form the IdP's page posts.
#[derive(Debug, Default, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

fn refused(invalid: &Invalid) -> ApiError {
    ApiError::new(
        ErrorCode::SamlResponseInvalid,
        "SAML response invalid",
        format!("The identity provider's answer was refused: {invalid}."),
    )
}

fn count(outcome: &'static str) {
    metrics::counter!("steward_saml_responses_total", "outcome" => outcome).increment(1);
}

/// Handles one post to the ACS of connection `id`.
pub async fn consume(
    state: &AppState,
    caller: FapiCaller,
    id: String,
    form: AcsForm,
) -> HttpResponse {
    let connection = match connections::find(state, id).await {
        Ok(connection) => connection,
        Err(error) => return error.error_response(),
    };
    let Some(encoded) = form.saml_response.filter(|r| !r.is_empty()) else {
        return ApiError::param_missing("SAMLResponse").error_response();
    };
    let xml = match response::decode(&encoded) {
        Ok(xml) => xml,
        Err(invalid) => return reject(&connection, None, &invalid).error_response(),
    };
    let request =
        match outstanding_request(state, &connection, &xml, form.relay_state.as_deref()).await {
            Ok(request) => request,
            Err(error) => return error.error_response(),
        };
    match accept(state, &connection, &xml, request.as_ref()).await {
        Ok(outcome) => {
            count("accepted");
            redirect_after(state, &caller, outcome)
        }
        Err(error) => match request {
            // The sign-in shows why, and clerk-js, back on its page, reads it.
            Some(request) => {
                let client_id = ClientId::from(request.client_id.clone());
                let sign_in_id = SignInId::from(request.sign_in_id.clone());
                if let Err(e) = signin::fail(state, client_id, sign_in_id, &error).await {
                    tracing::warn!(error = %e, "marking the SSO sign-in failed did not work");
                }
                let failed = signin::Return::Failed(error.code().as_str().to_owned());
                see_other(&signin::return_url(
                    &request.redirect_url,
                    request.native,
                    &failed,
                ))
            }
            None => error.error_response(),
        },
    }
}

/// Logs, counts and describes a refused answer.
fn reject(connection: &Connection, request: Option<&RequestRow>, invalid: &Invalid) -> ApiError {
    count(invalid.reason());
    tracing::warn!(
        connection_id = %connection.row.id,
        sign_in_id = request.map(|r| r.sign_in_id.as_str()),
        reason = invalid.reason(),
        detail = %invalid,
        "SAML response refused"
    );
    refused(invalid)
}

/// The outstanding request the answer names, or `None` for an
/// IdP-initiated answer. The RelayState must repeat the request's id.
async fn outstanding_request(
    state: &AppState,
    connection: &Connection,
    xml: &str,
    relay_state: Option<&str>,
) -> Result<Option<RequestRow>, ApiError> {
    let claimed = response::claimed_request_id(xml).map_err(|i| reject(connection, None, &i))?;
    let Some(claimed) = claimed else {
        return Ok(None);
    };
    let Some(relay_state) = relay_state.filter(|r| !r.is_empty()) else {
        count("relay_state_missing");
        return Err(ApiError::new(
            ErrorCode::SamlResponseRelaystateMissing,
            "RelayState missing",
            "The identity provider did not return the RelayState sent with the request. Check the connection's settings at the IdP.",
        ));
    };
    if relay_state != claimed {
        return Err(reject(connection, None, &Invalid::UnknownRequest));
    }
    match requests::find(state, connection.row.id.clone(), claimed).await? {
        Some(request) => Ok(Some(request)),
        None => Err(reject(connection, None, &Invalid::UnknownRequest)),
    }
}

/// What an accepted answer led to.
struct Accepted {
    redirect_url: String,
    native: bool,
    nonce: Option<String>,
    /// A client made for an IdP-initiated sign-in, to hand its cookie.
    new_client: Option<String>,
    /// The person is new and the instance needs more than the IdP gave:
    /// the sign-in waits for a sign-up with `transfer=true`.
    transferred: bool,
}

/// Hands a new person's verified identity to the sign-in, for the sign-up
/// that collects what the instance requires (clerk-js and the Android SDK
/// create it when they see the `transferable` verification).
async fn transfer(
    state: &AppState,
    request: Option<&RequestRow>,
    identity: &EnterpriseIdentity,
) -> Result<Accepted, ApiError> {
    let Some(request) = request else {
        return Err(ApiError::new(
            ErrorCode::SamlResponseInvalid,
            "Sign-up needed",
            "This person has no account yet and signing up needs more than the identity provider gives. Start the sign-in from the application.",
        ));
    };
    signin::transferable(
        state,
        ClientId::from(request.client_id.clone()),
        SignInId::from(request.sign_in_id.clone()),
        serde_json::to_string(&ExternalIdentity::Enterprise(identity.clone()))
            .map_err(ApiError::internal)?,
    )
    .await?;
    Ok(Accepted {
        redirect_url: request.redirect_url.clone(),
        native: request.native,
        nonce: None,
        new_client: None,
        transferred: true,
    })
}

async fn accept(
    state: &AppState,
    connection: &Connection,
    xml: &str,
    request: Option<&RequestRow>,
) -> Result<Accepted, ApiError> {
    let saml = SamlState::of(state)?;
    let sp = SpEndpoints::of(&state.public_url, &connection.row.id);
    let idp_initiated_target = saml.settings.idp_initiated_redirect_url.clone();
    if request.is_none() && idp_initiated_target.is_empty() {
        return Err(reject(connection, None, &Invalid::IdpInitiatedNotAllowed));
    }
    let expected = Expectation {
        connection,
        sp: &sp,
        request_id: request.map(|r| r.id.as_str()),
        clock_skew_seconds: saml.settings.clock_skew_seconds,
    };
    let verified = response::verify(xml, &expected).map_err(|i| reject(connection, request, &i))?;
    // Read before the request is used up: an answer refused for what it
    // says leaves the request for the IdP's genuine answer.
    let identity = identity(connection, &verified)?;
    let used = requests::consume(
        state,
        connection.row.id.clone(),
        request.map(|r| r.id.clone()),
        verified.assertion_id.clone(),
        verified.expires_at,
    )
    .await?;
    if let Err(refusal) = used {
        let invalid = match refusal {
            Refusal::RequestUsed => Invalid::UnknownRequest,
            Refusal::Replayed => Invalid::Replayed,
        };
        return Err(reject(connection, request, &invalid));
    }
    let user = match users::sign_in_enterprise(state, identity.clone()).await? {
        EnterpriseSignIn::User(user) => user,
        EnterpriseSignIn::NeedsSignUp => return transfer(state, request, &identity).await,
    };
    join_organization(state, connection, &user.user_id).await;
    match request {
        Some(request) => {
            let nonce = signin::finish(
                state,
                ClientId::from(request.client_id.clone()),
                SignInId::from(request.sign_in_id.clone()),
                user.user_id,
                request.native,
            )
            .await?;
            Ok(Accepted {
                redirect_url: request.redirect_url.clone(),
                native: request.native,
                nonce,
                new_client: None,
                transferred: false,
            })
        }
        None => {
            let client = sessions::ensure_client(state, None).await?;
            let client_id = ClientId::from(client.id.clone());
            let sign_in_id =
                signin::begin_idp_initiated(state, client_id.clone(), connection_ref(connection))
                    .await?;
            signin::finish(state, client_id, sign_in_id, user.user_id, false).await?;
            Ok(Accepted {
                redirect_url: idp_initiated_target,
                native: false,
                nonce: None,
                new_client: Some(client.id),
                transferred: false,
            })
        }
    }
}

fn connection_ref(connection: &Connection) -> (String, String) {
    (connection.row.id.clone(), connection.row.name.clone())
}

/// Who the answer says signed in, by the connection's attribute mapping.
fn identity(
    connection: &Connection,
    verified: &VerifiedAssertion,
) -> Result<EnterpriseIdentity, ApiError> {
    let mapping = connection.attribute_mapping();
    let email = first_present(verified, &mapping.email_address, EMAIL_NAMES)
        .or_else(|| verified.name_id.contains('@').then_some(verified.name_id.as_str()))
        .map(str::to_lowercase)
        .filter(|e| email_address::EmailAddress::is_valid(e))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::SamlUserAttributeMissing,
                "Email address missing",
                "The identity provider's answer has no email address for the user. Map the email attribute in the connection's attribute_mapping.",
            )
        })?;
    if !serves_email(connection, &email) {
        tracing::warn!(connection_id = %connection.row.id, "SAML response for an email outside the connection's domains");
        return Err(ApiError::new(
            ErrorCode::SamlEmailAddressDomainMismatch,
            "Email domain not allowed",
            "The identity provider vouched for an email address outside this connection's domains.",
        ));
    }
    let provider_user_id = verified
        .attribute(&mapping.user_id)
        .unwrap_or(verified.name_id.as_str())
        .to_owned();
    let first_name = first_present(verified, &mapping.first_name, FIRST_NAMES).map(short);
    let last_name = first_present(verified, &mapping.last_name, LAST_NAMES).map(short);
    let mut others = Map::new();
    for (name, values) in verified.attributes.iter().take(64) {
        let values: Vec<Value> = values
            .iter()
            .take(16)
            .map(|v| Value::String(short(v)))
            .collect();
        others.insert(short(name), Value::Array(values));
    }
    Ok(EnterpriseIdentity {
        protocol: "saml".to_owned(),
        provider: connection.row.provider.clone(),
        connection_id: connection.row.id.clone(),
        connection_name: connection.row.name.clone(),
        provider_user_id,
        email_address: email,
        first_name,
        last_name,
        public_metadata: Value::Object(others),
        sync_user_attributes: connection.row.sync_user_attributes,
        username: None,
        organization_id: connection.row.organization_id.clone(),
    })
}

/// An attribute value, cut to a length a name or metadata field takes.
fn short(value: &str) -> String {
    value.chars().take(256).collect()
}

/// The names IdPs commonly give each attribute, tried after the mapped one.
const EMAIL_NAMES: &[&str] = &[
    "email",
    "mail",
    "emailAddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
];
const FIRST_NAMES: &[&str] = &[
    "givenName",
    "firstName",
    "first_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "urn:oid:2.5.4.42",
];
const LAST_NAMES: &[&str] = &[
    "sn",
    "surname",
    "lastName",
    "last_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "urn:oid:2.5.4.4",
];

fn first_present<'a>(
    verified: &'a VerifiedAssertion,
    mapped: &str,
    fallbacks: &[&str],
) -> Option<&'a str> {
    std::iter::once(mapped)
        .chain(fallbacks.iter().copied())
        .find_map(|name| verified.attribute(name))
}

/// Makes the user a member of the connection's organization with its
/// default role. A sign-in is not refused for it: a failure (a full
/// organization) is logged.
async fn join_organization(state: &AppState, connection: &Connection, user_id: &UserId) {
    let Some(org_id) = connection.row.organization_id.clone() else {
        return;
    };
    let joined = orgs::memberships::join_with_default_role(
        state,
        OrgIdOrSlug::from(org_id),
        user_id.clone(),
    )
    .await;
    if let Err(error) = joined {
        tracing::warn!(%error, connection_id = %connection.row.id, "SSO user not added to the connection's organization");
    }
}

fn see_other(url: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, url))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

fn redirect_after(state: &AppState, caller: &FapiCaller, outcome: Accepted) -> HttpResponse {
    let returned = if outcome.transferred {
        signin::Return::Transferred
    } else {
        signin::Return::SignedIn(outcome.nonce.clone())
    };
    let target = signin::return_url(&outcome.redirect_url, outcome.native, &returned);
    let mut builder = HttpResponse::SeeOther();
    builder.insert_header((LOCATION, target));
    if let Some(client_id) = &outcome.new_client {
        attach_client_token(state, caller, Some(client_id), &mut builder);
    } else {
        crate::http::private_response(&mut builder);
    }
    builder.finish()
}
