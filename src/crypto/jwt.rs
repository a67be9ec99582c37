//! Compact JWS encoding for the two kinds of token Steward issues.
//!
//! Session tokens are RS256 with a key parsed once at start-up and held in
//! memory: parsing an RSA key costs more than signing with it, and a token
//! is minted on every page load (`jsonwebtoken`'s `EncodingKey` re-parses
//! the DER key on every call). Client tokens are HS256 with an instance key;
//! verification compares MACs in constant time (aws-lc-rs `hmac::verify`).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::{hmac, signature};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

/// Signs session tokens with one RSA key.
#[derive(Debug)]
pub struct Rs256Signer {
    kid: String,
    /// `{"alg":"RS256","kid":…,"typ":"JWT"}`, base64url: the same for
    /// every token this key signs, so encoded once.
    header: String,
    pair: signature::RsaKeyPair,
    rng: SystemRandom,
}

impl Rs256Signer {
    /// Parses a PKCS#8 DER key once.
    pub fn new(kid: String, pkcs8_der: &[u8]) -> anyhow::Result<Self> {
        let pair = signature::RsaKeyPair::from_pkcs8(pkcs8_der)
            .map_err(|e| anyhow::anyhow!("signing key {kid} is not a valid RSA key: {e}"))?;
        let header = json!({ "alg": "RS256", "kid": kid, "typ": "JWT" });
        Ok(Self {
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            kid,
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The key id written into every token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK `n` (modulus) and `e` (exponent), base64url without padding.
    pub fn public_components(&self) -> (String, String) {
        use aws_lc_rs::signature::KeyPair as _;
        let public = self.pair.public_key();
        (
            URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        )
    }

    /// Modulus size in bits.
    pub fn modulus_bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    /// `header.payload.signature` for `claims`, header `{alg:RS256, kid, typ:JWT}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let signing_input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The one header Steward's HS256 tokens carry, `{"alg":"HS256","typ":"JWT"}`,
/// base64url-encoded: signing writes it and verifying compares against it,
/// with no JSON either way.
const HS256_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Issues and checks HS256 client tokens.
#[derive(Debug, Clone)]
pub struct Hs256Key {
    key: hmac::Key,
}

impl Hs256Key {
    /// A key from its secret bytes (at least 32).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Signs `claims` as a compact HS256 JWT.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let input = format!(
            "{HS256_HEADER}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let tag = hmac::sign(&self.key, input.as_bytes());
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    /// The claims of a token this key signed, or `None` for anything else:
    /// a bad signature, another algorithm, or a malformed token.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        if token.len() > 4096 {
            return None;
        }
        let (input, signature) = token.rsplit_once('.')?;
        let (header, payload) = input.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(&self.key, input.as_bytes(), &signature).ok()?;
        if header != HS256_HEADER {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    struct Claims {
        sub: String,
    }

    #[test]
    fn the_hs256_header_constant_is_the_header() {
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(HS256_HEADER).unwrap()).unwrap();
        assert_eq!(json, json!({ "alg": "HS256", "typ": "JWT" }));
    }

    #[test]
    fn a_token_with_another_header_is_refused_even_when_its_mac_is_right() {
        let key = Hs256Key::new(&[7u8; 32]);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"x"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"client_1"}"#);
        let input = format!("{header}.{payload}");
        let tag = hmac::sign(&key.key, input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert_eq!(key.verify::<Claims>(&token), None);
    }

    #[test]
    fn hs256_round_trip_and_tamper() {
        let key = Hs256Key::new(&[7u8; 32]);
        let token = key
            .sign(&Claims {
                sub: "client_1".into(),
            })
            .expect("signs");
        assert_eq!(
            key.verify::<Claims>(&token),
            Some(Claims {
                sub: "client_1".into()
            })
        );
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert_eq!(key.verify::<Claims>(&tampered), None);
        assert_eq!(Hs256Key::new(&[8u8; 32]).verify::<Claims>(&token), None);
        assert_eq!(key.verify::<Claims>("garbage"), None);
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key() {
        let der = crate::crypto::signing_keys::generate_rsa_pkcs8().expect("generates");
        let signer = Rs256Signer::new("ins_x".into(), &der).expect("parses");
        let token = signer
            .sign(&Claims {
                sub: "user_1".into(),
            })
            .expect("signs");
        let pair = signature::RsaKeyPair::from_pkcs8(&der).expect("parses");
        use aws_lc_rs::signature::KeyPair;
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public_key().as_ref().to_vec(),
        );
        let (input, sig) = token.rsplit_once('.').expect("three parts");
        public
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).expect("b64"))
            .expect("valid signature");
    }
}
