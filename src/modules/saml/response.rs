//! Checking an IdP's answer (a `SAMLResponse` posted to the ACS). samael
//! (xmlsec) verifies the signature with the connection's certificate only,
//! and reads only what the signature covers: the XML is reduced to the
//! verified element before anything is parsed from it, which is what
//! defeats signature wrapping. It then checks the Destination, Issuer,
//! InResponseTo, audience, recipient and validity window. Steward adds
//! what samael leaves to its caller: a certificate is always required (so
//! an unsigned answer is always refused), only SHA-2 signature algorithms
//! are accepted, the audience restriction must be present, and the
//! assertion's id is returned for replay protection.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Duration;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{EntityDescriptor, IdpSsoDescriptor, KeyDescriptor};
use samael::schema::{Assertion, Response};
use samael::service_provider::ServiceProvider;

use super::certificates;
use super::model::{Connection, SpEndpoints};

/// Largest `SAMLResponse` accepted, in bytes of base64.
pub const MAX_RESPONSE_LEN: usize = 512 * 1024;

/// Why an answer was refused; the text goes to the log and the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the SAMLResponse is not base64-encoded XML")]
    NotXml,
    #[error("the SAMLResponse is not a SAML Response")]
    NotAResponse,
    #[error("the connection has no IdP certificate to verify the answer with")]
    NoCertificate,
    #[error("the answer names no request this connection sent (InResponseTo)")]
    UnknownRequest,
    #[error(
        "the answer is not for a request, and this connection does not allow IdP-initiated sign-in"
    )]
    IdpInitiatedNotAllowed,
    #[error("the answer's signature does not verify with the connection's certificate, or it is unsigned")]
    Signature,
    #[error("the answer was issued by {0}, not by the connection's IdP")]
    Issuer(String),
    #[error("the answer is addressed to another service provider: {0}")]
    Audience(String),
    #[error("the answer is addressed to another endpoint: {0}")]
    Destination(String),
    #[error("the answer has expired: {0}")]
    Expired(String),
    #[error("the answer is not valid yet: {0}")]
    NotYetValid(String),
    #[error("the IdP reports that the sign-in failed: {0}")]
    Status(String),
    #[error("the answer does not say who signed in (no NameID)")]
    NoSubject,
    #[error("the answer was used before")]
    Replayed,
    #[error("the answer is invalid: {0}")]
    Other(String),
}

impl Invalid {
    /// A short, stable name of the reason, for metrics and tests.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotXml => "not_xml",
            Self::NotAResponse => "not_a_response",
            Self::NoCertificate => "no_certificate",
            Self::UnknownRequest => "unknown_request",
            Self::IdpInitiatedNotAllowed => "idp_initiated_not_allowed",
            Self::Signature => "signature",
            Self::Issuer(_) => "issuer",
            Self::Audience(_) => "audience",
            Self::Destination(_) => "destination",
            Self::Expired(_) => "expired",
            Self::NotYetValid(_) => "not_yet_valid",
            Self::Status(_) => "status",
            Self::NoSubject => "no_subject",
            Self::Replayed => "replayed",
            Self::Other(_) => "other",
        }
    }
}

/// The XML of a posted `SAMLResponse` (whitespace in the base64, which
/// some IdPs wrap at 76 columns, is ignored).
pub fn decode(encoded: &str) -> Result<String, Invalid> {
    if encoded.len() > MAX_RESPONSE_LEN {
        return Err(Invalid::NotXml);
    }
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD.decode(compact).map_err(|_| Invalid::NotXml)?;
    String::from_utf8(bytes).map_err(|_| Invalid::NotXml)
}

/// The `InResponseTo` the answer claims, read before its signature is
/// checked: only to find which request to check it against. The verified
/// value is compared again by [`verify`].
pub fn claimed_request_id(xml: &str) -> Result<Option<String>, Invalid> {
    let response: Response = xml.parse().map_err(|_| Invalid::NotAResponse)?;
    Ok(response.in_response_to.filter(|id| !id.is_empty()))
}

/// What a verified answer says.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Every attribute by name (and by friendly name), with its values.
    pub attributes: Vec<(String, Vec<String>)>,
    /// Until when the assertion could be presented (Unix ms, with the
    /// clock skew): how long its id must be remembered.
    pub expires_at: i64,
}

impl VerifiedAssertion {
    /// The first value of the attribute `name` (compared exactly, then
    /// case-insensitively).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        if name.is_empty() {
            return None;
        }
        let exact = self.attributes.iter().find(|(n, _)| n == name);
        exact
            .or_else(|| {
                self.attributes
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .and_then(|(_, values)| values.iter().find(|v| !v.trim().is_empty()))
            .map(|v| v.trim())
    }
}

/// What the answer is checked against.
#[derive(Debug)]
pub struct Expectation<'a> {
    pub connection: &'a Connection,
    pub sp: &'a SpEndpoints,
    /// The outstanding request it answers; `None` for an IdP-initiated
    /// answer, which the connection must allow.
    pub request_id: Option<&'a str>,
    pub clock_skew_seconds: i64,
}

fn idp_descriptor(entity_id: &str, certificate_pem: &str) -> Result<EntityDescriptor, Invalid> {
    let certificate = certificates::parse(certificate_pem)
        .and_then(|c| certificates::der_base64(&c))
        .ok_or(Invalid::NoCertificate)?;
    Ok(EntityDescriptor {
        entity_id: Some(entity_id.to_owned()),
        idp_sso_descriptors: Some(vec![IdpSsoDescriptor {
            id: None,
            valid_until: None,
            cache_duration: None,
            protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".to_owned()),
            error_url: None,
            signature: None,
            organization: None,
            contact_people: Vec::new(),
            artifact_resolution_service: Vec::new(),
            single_logout_services: Vec::new(),
            manage_name_id_services: Vec::new(),
            name_id_formats: Vec::new(),
            want_authn_requests_signed: None,
            single_sign_on_services: Vec::new(),
            name_id_mapping_services: Vec::new(),
            assertion_id_request_services: Vec::new(),
            attribute_profiles: Vec::new(),
            attributes: Vec::new(),
            key_descriptors: vec![KeyDescriptor {
                key_use: Some("signing".to_owned()),
                key_info: KeyInfo {
                    id: None,
                    x509_data: Some(X509Data {
                        certificates: vec![certificate],
                    }),
                },
                encryption_methods: None,
            }],
        }]),
        ..EntityDescriptor::default()
    })
}

/// The SHA-2 signature algorithms; SHA-1 is refused.
const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

fn classify(error: samael::service_provider::Error) -> Invalid {
    use samael::service_provider::Error as E;
    match error {
        E::FailedToValidateSignature | E::CryptoXmlError(_) | E::CryptoProviderError(_) => {
            Invalid::Signature
        }
        E::DestinationValidationError {
            response_destination,
            ..
        } => Invalid::Destination(response_destination.unwrap_or_default()),
        E::AssertionRecipientMismatch {
            assertion_recipient,
            ..
        } => Invalid::Destination(assertion_recipient.unwrap_or_default()),
        E::AssertionIssuerMismatch { issuer, .. } | E::ResponseIssuerMismatch { issuer, .. } => {
            Invalid::Issuer(issuer.unwrap_or_default())
        }
        E::AssertionConditionAudienceRestrictionFailed { requirement } => {
            Invalid::Audience(requirement)
        }
        E::AssertionExpired { time }
        | E::ResponseExpired { time }
        | E::AssertionConditionExpired { time }
        | E::AssertionSubjectConfirmationExpired { time } => Invalid::Expired(time),
        E::AssertionConditionExpiredBefore { time }
        | E::AssertionSubjectConfirmationExpiredBefore { time } => Invalid::NotYetValid(time),
        E::AssertionInResponseToInvalid { .. } | E::ResponseInResponseToInvalid { .. } => {
            Invalid::UnknownRequest
        }
        E::ResponseBadStatusCode { code } => Invalid::Status(code),
        E::FailedToParseSamlResponse(_) | E::DeserializeResponseError => Invalid::NotAResponse,
        other => Invalid::Other(other.to_string()),
    }
}

/// Verifies `xml` as the answer `expected` describes.
pub fn verify(xml: &str, expected: &Expectation<'_>) -> Result<VerifiedAssertion, Invalid> {
    let row = &expected.connection.row;
    let (Some(idp_entity_id), Some(certificate)) =
        (row.idp_entity_id.as_deref(), row.idp_certificate.as_deref())
    else {
        return Err(Invalid::NoCertificate);
    };
    if expected.request_id.is_none() && !row.allow_idp_initiated {
        return Err(Invalid::IdpInitiatedNotAllowed);
    }
    let skew = Duration::seconds(expected.clock_skew_seconds);
    let sp = ServiceProvider {
        entity_id: Some(expected.sp.entity_id.clone()),
        metadata_url: Some(expected.sp.metadata_url.clone()),
        acs_url: Some(expected.sp.acs_url.clone()),
        slo_url: None,
        idp_metadata: idp_descriptor(idp_entity_id, certificate)?,
        allow_idp_initiated: expected.request_id.is_none(),
        max_clock_skew: skew,
        // How old IssueInstant may be: the person's time at the IdP is
        // before it, so the skew plus the time to post the form.
        max_issue_delay: skew + Duration::seconds(90),
        allowed_signature_algorithms: Some(ALLOWED_ALGORITHMS.to_vec()),
        ..ServiceProvider::default()
    };
    let possible: Vec<&str> = expected.request_id.into_iter().collect();
    let assertion = sp
        .parse_xml_response(xml, Some(&possible))
        .map_err(classify)?;
    require_audience(&assertion, &expected.sp.entity_id)?;
    read(assertion, skew)
}

/// samael checks the audience only when the assertion names one; an
/// assertion for "anyone" is refused here.
fn require_audience(assertion: &Assertion, entity_id: &str) -> Result<(), Invalid> {
    let audiences: Vec<&String> = assertion
        .conditions
        .iter()
        .flat_map(|c| c.audience_restrictions.iter().flatten())
        .flat_map(|r| &r.audience)
        .collect();
    if audiences.iter().any(|a| *a == entity_id) {
        Ok(())
    } else {
        Err(Invalid::Audience(
            audiences.first().map(|a| a.to_string()).unwrap_or_default(),
        ))
    }
}

fn read(assertion: Assertion, skew: Duration) -> Result<VerifiedAssertion, Invalid> {
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .filter(|n| !n.value.trim().is_empty())
        .ok_or(Invalid::NoSubject)?;
    let mut attributes = Vec::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for attribute in &statement.attributes {
            let values: Vec<String> = attribute
                .values
                .iter()
                .filter_map(|v| v.value.clone())
                .collect();
            for name in [&attribute.name, &attribute.friendly_name]
                .into_iter()
                .flatten()
            {
                attributes.push((name.clone(), values.clone()));
            }
        }
    }
    let confirmation_end = assertion
        .subject
        .iter()
        .flat_map(|s| s.subject_confirmations.iter().flatten())
        .filter_map(|c| c.subject_confirmation_data.as_ref()?.not_on_or_after)
        .max();
    let condition_end = assertion
        .conditions
        .as_ref()
        .and_then(|c| c.not_on_or_after);
    let until = confirmation_end
        .into_iter()
        .chain(condition_end)
        .max()
        .unwrap_or(assertion.issue_instant + Duration::minutes(10));
    Ok(VerifiedAssertion {
        assertion_id: assertion.id.clone(),
        name_id: name_id.value.trim().to_owned(),
        name_id_format: name_id.format.clone(),
        attributes,
        expires_at: (until + skew).timestamp_millis(),
    })
}
