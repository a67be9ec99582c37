//! The SP metadata of a connection (`GET /v1/saml/metadata/{id}.xml`):
//! what an IdP administrator imports to register Steward: its entity id,
//! its assertion consumer service (HTTP-POST) and the certificate its
//! AuthnRequests are signed with.

use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{EntityDescriptor, IndexedEndpoint, KeyDescriptor, SpSsoDescriptor};
use samael::metadata::{NameIdFormat, HTTP_POST_BINDING};
use samael::traits::ToXml;

use super::certificates;
use super::model::SpEndpoints;
use super::sp_key::SpKey;
use crate::http::ApiError;

/// The metadata document of the SP side at `sp`.
pub fn document(sp: &SpEndpoints, key: &SpKey, requests_signed: bool) -> Result<String, ApiError> {
    let certificate = certificates::der_base64(&key.certificate)
        .ok_or_else(|| ApiError::internal("SP certificate not encodable"))?;
    let descriptor = SpSsoDescriptor {
        protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".to_owned()),
        key_descriptors: Some(vec![KeyDescriptor {
            key_use: Some("signing".to_owned()),
            key_info: KeyInfo {
                id: None,
                x509_data: Some(X509Data {
                    certificates: vec![certificate],
                }),
            },
            encryption_methods: None,
        }]),
        name_id_formats: Some(vec![
            NameIdFormat::EmailAddressNameIDFormat.value().to_owned(),
            NameIdFormat::PersistentNameIDFormat.value().to_owned(),
        ]),
        authn_requests_signed: Some(requests_signed),
        want_assertions_signed: Some(true),
        assertion_consumer_services: vec![IndexedEndpoint {
            binding: HTTP_POST_BINDING.to_owned(),
            location: sp.acs_url.clone(),
            index: 0,
            is_default: Some(true),
            ..IndexedEndpoint::default()
        }],
        ..SpSsoDescriptor::default()
    };
    let entity = EntityDescriptor {
        entity_id: Some(sp.entity_id.clone()),
        sp_sso_descriptors: Some(vec![descriptor]),
        ..EntityDescriptor::default()
    };
    entity
        .to_string()
        .map_err(|e| ApiError::internal(format!("SP metadata: {e}")))
}
