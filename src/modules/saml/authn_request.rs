//! The AuthnRequest a sign-in sends the browser to the IdP with, in the
//! HTTP-Redirect binding: deflated, base64-encoded, with its RelayState,
//! and signed with the instance's SP key when configured.
//!
//! `ForceAuthn="true"` is set exactly when the connection asks for it; it
//! is left out otherwise (the attribute's absence means false), so an IdP
//! session from an earlier sign-in is reused only where that is wanted.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use samael::metadata::HTTP_POST_BINDING;
use samael::schema::{AuthnRequest, Issuer, NameIdPolicy};
use samael::traits::ToXml;

use super::model::SpEndpoints;
use super::sp_key::SpKey;
use crate::http::ApiError;

/// The signature algorithm of signed requests (`SigAlg`).
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// What goes into one AuthnRequest.
#[derive(Debug)]
pub struct RequestParams<'a> {
    /// The request's ID, which the answer's InResponseTo must repeat.
    pub id: &'a str,
    pub sp: &'a SpEndpoints,
    pub idp_sso_url: &'a str,
    pub force_authn: bool,
    /// Ties the answer back to this request (see `requests`).
    pub relay_state: &'a str,
}

/// The AuthnRequest XML.
pub fn xml(params: &RequestParams<'_>) -> Result<String, ApiError> {
    let request = AuthnRequest {
        id: params.id.to_owned(),
        version: "2.0".to_owned(),
        issue_instant: Utc::now(),
        destination: Some(params.idp_sso_url.to_owned()),
        issuer: Some(Issuer {
            value: Some(params.sp.entity_id.clone()),
            ..Issuer::default()
        }),
        name_id_policy: Some(NameIdPolicy {
            allow_create: Some(true),
            ..NameIdPolicy::default()
        }),
        force_authn: params.force_authn.then_some(true),
        assertion_consumer_service_url: Some(params.sp.acs_url.clone()),
        protocol_binding: Some(HTTP_POST_BINDING.to_owned()),
        ..AuthnRequest::default()
    };
    request
        .to_string()
        .map_err(|e| ApiError::internal(format!("AuthnRequest: {e}")))
}

/// The IdP URL the browser is sent to: the request and RelayState in the
/// query, and `SigAlg` + `Signature` when `signing_key` is given. The
/// signature covers exactly `SAMLRequest=…&RelayState=…&SigAlg=…` as sent
/// (SAML bindings §3.4.4.1); query parameters already in the IdP's URL
/// are kept before them.
pub fn redirect_url(
    params: &RequestParams<'_>,
    signing_key: Option<&SpKey>,
) -> Result<String, ApiError> {
    let xml = xml(params)?;
    let mut deflated = Vec::new();
    {
        let mut encoder = DeflateEncoder::new(&mut deflated, Compression::default());
        encoder
            .write_all(xml.as_bytes())
            .map_err(ApiError::internal)?;
        encoder.finish().map_err(ApiError::internal)?;
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("SAMLRequest", &STANDARD.encode(&deflated));
    query.append_pair("RelayState", params.relay_state);
    let mut query = query.finish();
    if let Some(key) = signing_key {
        query.push_str("&SigAlg=");
        query.extend(url::form_urlencoded::byte_serialize(
            SIG_ALG_RSA_SHA256.as_bytes(),
        ));
        let mut signer =
            Signer::new(MessageDigest::sha256(), &key.key).map_err(ApiError::internal)?;
        signer
            .update(query.as_bytes())
            .map_err(ApiError::internal)?;
        let signature = signer.sign_to_vec().map_err(ApiError::internal)?;
        query.push_str("&Signature=");
        query.extend(url::form_urlencoded::byte_serialize(
            STANDARD.encode(signature).as_bytes(),
        ));
    }
    let separator = if params.idp_sso_url.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(format!("{}{separator}{query}", params.idp_sso_url))
}

/// The AuthnRequest carried by an HTTP-Redirect URL, inflated: for tests
/// and for logs of what was sent.
pub fn decode_from_url(url: &str) -> Option<String> {
    use std::io::Read;
    let parsed = url::Url::parse(url).ok()?;
    let encoded = parsed
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())?;
    let deflated = STANDARD.decode(encoded).ok()?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(1 << 20)
        .read_to_string(&mut xml)
        .ok()?;
    Some(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::saml::certificates;

    fn params(force_authn: bool, sp: &SpEndpoints) -> RequestParams<'_> {
        RequestParams {
            id: "_abc123",
            sp,
            idp_sso_url: "https://idp.example.com/sso?tenant=acme",
            force_authn,
            relay_state: "state-1",
        }
    }

    #[test]
    fn force_authn_is_present_exactly_when_enabled() {
        let sp = SpEndpoints::of("https://auth.example.com", "samlc_1");
        let with = decode_from_url(&redirect_url(&params(true, &sp), None).unwrap()).unwrap();
        assert!(with.contains(r#"ForceAuthn="true""#), "{with}");
        let without = decode_from_url(&redirect_url(&params(false, &sp), None).unwrap()).unwrap();
        assert!(!without.contains("ForceAuthn"), "{without}");
        assert!(without.contains(r#"ID="_abc123""#));
        assert!(without.contains(&sp.acs_url));
    }

    #[test]
    fn a_signed_redirect_verifies_with_the_sp_certificate_and_keeps_the_idp_query() {
        let (key, certificate) = certificates::generate_sp_credentials("t").unwrap();
        let sp_key = SpKey {
            key,
            certificate_pem: certificates::to_pem(&certificate).unwrap(),
            certificate,
        };
        let sp = SpEndpoints::of("https://auth.example.com", "samlc_1");
        let url = redirect_url(&params(false, &sp), Some(&sp_key)).unwrap();
        assert!(url.starts_with("https://idp.example.com/sso?tenant=acme&SAMLRequest="));
        let query = url.split_once('?').unwrap().1;
        let (signed, signature) = query.split_once("&Signature=").unwrap();
        let signed = signed.strip_prefix("tenant=acme&").unwrap();
        let signature: String = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        let public = sp_key.certificate.public_key().unwrap();
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(signed.as_bytes()).unwrap();
        assert!(verifier
            .verify(&STANDARD.decode(signature).unwrap())
            .unwrap());
    }
}
