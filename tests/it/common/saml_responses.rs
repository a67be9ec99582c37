//! A test SAML identity provider: a key and certificate, and IdP answers
//! (`SAMLResponse`s) built with samael and signed with xmlsec, with knobs
//! for every field a service provider checks. Unknobbed, an answer is
//! what a well-behaved IdP sends for the request it names.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use samael::idp::response_builder::{build_response_template, ResponseAttribute};
use samael::idp::sp_extractor::RequiredAttribute;
use samael::idp::{CertificateParams, IdentityProvider, KeyType, Rsa};
use samael::schema::Response;
use samael::signature::{DigestAlgorithm, Signature};
use samael::traits::ToXml;

/// An identity provider: its entity id, signing key and certificate.
pub struct TestIdp {
    pub entity_id: String,
    idp: IdentityProvider,
    pub certificate: CertificateDer,
}

impl TestIdp {
    /// A new IdP with a fresh RSA-2048 key.
    pub fn new(entity_id: &str) -> Self {
        let idp = IdentityProvider::generate_new(KeyType::Rsa(Rsa::Rsa2048)).expect("IdP key");
        let certificate = idp
            .create_certificate(&CertificateParams {
                common_name: "idp.test",
                issuer_name: "idp.test",
                days_until_expiration: 365,
            })
            .expect("IdP certificate");
        Self {
            entity_id: entity_id.to_owned(),
            idp,
            certificate,
        }
    }

    /// The certificate as bare base64 DER (what metadata carries).
    pub fn certificate_base64(&self) -> String {
        STANDARD.encode(self.certificate.der_data())
    }

    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> String {
        let x509 = openssl::x509::X509::from_der(self.certificate.der_data()).expect("DER");
        String::from_utf8(x509.to_pem().expect("PEM")).expect("ASCII")
    }

    fn private_key_der(&self) -> Vec<u8> {
        self.idp.export_private_key_der().expect("key DER")
    }

    /// An answer from this IdP to request `in_response_to` of the SP
    /// `sp_entity_id` whose ACS is `acs_url`, for `email`.
    pub fn response<'a>(
        &'a self,
        sp_entity_id: &str,
        acs_url: &str,
        in_response_to: Option<&str>,
        email: &str,
    ) -> ResponseBuilder<'a> {
        let now = Utc::now();
        ResponseBuilder {
            idp: self,
            signer: None,
            signing: Signing::Response,
            issuer: self.entity_id.clone(),
            assertion_issuer: None,
            audience: sp_entity_id.to_owned(),
            destination: acs_url.to_owned(),
            recipient: acs_url.to_owned(),
            in_response_to: in_response_to.map(str::to_owned),
            issue_instant: now,
            not_before: now - Duration::seconds(5),
            not_on_or_after: now + Duration::minutes(5),
            name_id: email.to_owned(),
            email: email.to_owned(),
        }
    }
}

/// What carries the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// The Response (which covers the assertion inside it).
    Response,
    /// The Assertion only; the Response around it is unsigned.
    Assertion,
    /// Nothing.
    Unsigned,
}

/// One IdP answer, field by field.
pub struct ResponseBuilder<'a> {
    idp: &'a TestIdp,
    /// Signs with this IdP's key (and names its certificate) instead.
    signer: Option<&'a TestIdp>,
    signing: Signing,
    issuer: String,
    /// The assertion's issuer, when it differs from the response's.
    assertion_issuer: Option<String>,
    audience: String,
    destination: String,
    recipient: String,
    in_response_to: Option<String>,
    issue_instant: DateTime<Utc>,
    not_before: DateTime<Utc>,
    not_on_or_after: DateTime<Utc>,
    name_id: String,
    email: String,
}

impl<'a> ResponseBuilder<'a> {
    pub fn signing(mut self, signing: Signing) -> Self {
        self.signing = signing;
        self
    }

    /// Signed with `other`'s key (its certificate in the KeyInfo).
    pub fn signed_by(mut self, other: &'a TestIdp) -> Self {
        self.signer = Some(other);
        self
    }

    /// The Issuer of the response and its assertion.
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.to_owned();
        self
    }

    /// The Issuer of the assertion only.
    pub fn assertion_issuer(mut self, issuer: &str) -> Self {
        self.assertion_issuer = Some(issuer.to_owned());
        self
    }

    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = audience.to_owned();
        self
    }

    /// The Response's Destination.
    pub fn destination(mut self, url: &str) -> Self {
        self.destination = url.to_owned();
        self
    }

    /// The SubjectConfirmationData's Recipient.
    pub fn recipient(mut self, url: &str) -> Self {
        self.recipient = url.to_owned();
        self
    }

    /// InResponseTo of the response and the subject confirmation (`None`:
    /// an IdP-initiated answer).
    pub fn in_response_to(mut self, id: Option<&str>) -> Self {
        self.in_response_to = id.map(str::to_owned);
        self
    }

    pub fn issue_instant(mut self, at: DateTime<Utc>) -> Self {
        self.issue_instant = at;
        self
    }

    /// The Conditions' NotBefore.
    pub fn not_before(mut self, at: DateTime<Utc>) -> Self {
        self.not_before = at;
        self
    }

    /// NotOnOrAfter of the Conditions and the subject confirmation.
    pub fn not_on_or_after(mut self, at: DateTime<Utc>) -> Self {
        self.not_on_or_after = at;
        self
    }

    /// The `email` attribute (the NameID stays as it was).
    pub fn email(mut self, email: &str) -> Self {
        self.email = email.to_owned();
        self
    }

    pub fn name_id(mut self, name_id: &str) -> Self {
        self.name_id = name_id.to_owned();
        self
    }

    fn signer(&self) -> &TestIdp {
        self.signer.unwrap_or(self.idp)
    }

    /// The answer as samael's structure, with the signature template(s)
    /// in place but not yet signed.
    pub fn template(&self) -> Response {
        let attributes = [ResponseAttribute {
            required_attribute: RequiredAttribute {
                name: "email".to_owned(),
                format: None,
            },
            value: &self.email,
        }];
        let certificate = &self.signer().certificate;
        let mut response = build_response_template(
            certificate,
            &self.name_id,
            &self.audience,
            &self.issuer,
            &self.destination,
            self.in_response_to.as_deref().unwrap_or_default(),
            &attributes,
        );
        response.in_response_to = self.in_response_to.clone();
        response.issue_instant = self.issue_instant;
        let assertion = response.assertion.as_mut().expect("assertion");
        assertion.issue_instant = self.issue_instant;
        if let Some(issuer) = &self.assertion_issuer {
            assertion.issuer.value = Some(issuer.clone());
        }
        let subject = assertion.subject.as_mut().expect("subject");
        for confirmation in subject.subject_confirmations.iter_mut().flatten() {
            let data = confirmation
                .subject_confirmation_data
                .as_mut()
                .expect("confirmation data");
            data.not_on_or_after = Some(self.not_on_or_after);
            data.recipient = Some(self.recipient.clone());
            data.in_response_to = self.in_response_to.clone();
        }
        let conditions = assertion.conditions.as_mut().expect("conditions");
        conditions.not_before = Some(self.not_before);
        conditions.not_on_or_after = Some(self.not_on_or_after);
        let sha256 = |mut signature: Signature| {
            for reference in &mut signature.signed_info.reference {
                reference.digest_method.algorithm = DigestAlgorithm::Sha256;
            }
            signature
        };
        match self.signing {
            Signing::Response => {
                response.signature = response.signature.take().map(sha256);
            }
            Signing::Assertion => {
                response.signature = None;
                assertion.signature = Some(sha256(Signature::template(&assertion.id, certificate)));
            }
            Signing::Unsigned => response.signature = None,
        }
        response
    }

    /// The answer's XML, signed as asked.
    pub fn xml(&self) -> String {
        let unsigned = self.template().to_string().expect("response XML");
        self.sign(&unsigned)
    }

    /// `xml` with its signature template filled in with the signer's key
    /// (as is when unsigned).
    pub fn sign(&self, xml: &str) -> String {
        if self.signing == Signing::Unsigned {
            return xml.to_owned();
        }
        Crypto::sign_xml(xml, &self.signer().private_key_der()).expect("signed XML")
    }

    /// The answer as the `SAMLResponse` form field carries it.
    pub fn encoded(&self) -> String {
        encode(&self.xml())
    }
}

/// `xml` as the `SAMLResponse` form field carries it.
pub fn encode(xml: &str) -> String {
    STANDARD.encode(xml)
}
