//! X.509 certificates: the IdP's, as an administrator pastes it or its
//! metadata carries it, and the instance's own service-provider one.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

/// Longest certificate accepted, in bytes of PEM.
pub const MAX_PEM_LEN: usize = 16 * 1024;

/// How long the service-provider certificate is valid.
const SP_CERTIFICATE_DAYS: u32 = 3650;

/// A certificate read from what an administrator or metadata gave: PEM,
/// or the bare base64 DER that metadata's `<ds:X509Certificate>` holds.
pub fn parse(text: &str) -> Option<X509> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_PEM_LEN {
        return None;
    }
    if text.starts_with("-----BEGIN") {
        return X509::from_pem(text.as_bytes()).ok();
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(compact).ok()?;
    X509::from_der(&der).ok()
}

/// The certificate as PEM, the one form Steward stores.
pub fn to_pem(certificate: &X509) -> Option<String> {
    let pem = certificate.to_pem().ok()?;
    String::from_utf8(pem).ok()
}

/// The base64 DER body of a certificate, as metadata and signatures carry it.
pub fn der_base64(certificate: &X509) -> Option<String> {
    certificate.to_der().ok().map(|der| STANDARD.encode(der))
}

/// When the certificate in `pem` starts and stops being valid, in Unix
/// milliseconds (Clerk's `idp_certificate_issued_at` / `_expires_at`).
pub fn validity(pem: &str) -> Option<(i64, i64)> {
    let certificate = parse(pem)?;
    Some((
        unix_ms(certificate.not_before())?,
        unix_ms(certificate.not_after())?,
    ))
}

fn unix_ms(time: &Asn1TimeRef) -> Option<i64> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    Some((i64::from(diff.days) * 86_400 + i64::from(diff.secs)) * 1000)
}

/// A new RSA-2048 key and a self-signed certificate for it: the instance's
/// service-provider credentials, which sign AuthnRequests. IdPs pin the
/// certificate from the SP metadata, so it is long-lived.
pub fn generate_sp_credentials(subject: &str) -> anyhow::Result<(PKey<Private>, X509)> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", subject)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (
        Asn1Time::days_from_now(0)?,
        Asn1Time::days_from_now(SP_CERTIFICATE_DAYS)?,
    );
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok((key, builder.build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_round_trip_through_pem_and_bare_base64() {
        let (_, certificate) = generate_sp_credentials("steward test").unwrap();
        let pem = to_pem(&certificate).unwrap();
        let bare = der_base64(&certificate).unwrap();
        assert_eq!(
            parse(&pem).unwrap().to_der().unwrap(),
            certificate.to_der().unwrap()
        );
        assert_eq!(
            parse(&bare).unwrap().to_der().unwrap(),
            certificate.to_der().unwrap()
        );
        let (issued, expires) = validity(&pem).unwrap();
        assert!(expires - issued >= i64::from(SP_CERTIFICATE_DAYS - 1) * 86_400_000);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(parse("").is_none());
        assert!(parse("not base64 !").is_none());
        assert!(parse("aGVsbG8=").is_none());
        assert!(parse(&"A".repeat(MAX_PEM_LEN + 1)).is_none());
    }
}
