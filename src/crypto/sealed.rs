//! Secrets at rest: AES-256-GCM under the operator's encryption key.
//!
//! The RSA signing keys and the client-token HMAC key must be readable by
//! Steward, so they cannot be stored as digests; anyone holding a database
//! backup could otherwise forge every session token and client cookie. They
//! are stored sealed under `instance.encryption_key`, which lives outside the
//! database (an environment variable or a file).
//!
//! A sealed value is text, for the portable schema:
//! `enc:v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`. The prefix holds a
//! colon, which base64 never does, so it cannot be mistaken for the plaintext
//! base64 that earlier versions stored. The key id (16 hex digits of a
//! domain-separated SHA-256 of the key) tells "sealed under another key"
//! apart from "corrupted" without revealing anything useful about the key.
//! The associated data binds each value to its row and purpose, so a sealed
//! value copied into another row does not open.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretSlice;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every sealed value of this format.
const PREFIX: &str = "enc:v1:";

/// Length of an encryption key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// Why a stored value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("it is stored in plaintext")]
    Plaintext,
    #[error("it is sealed under another encryption key (key id {found}; the configured key's id is {expected})")]
    OtherKey { found: String, expected: String },
    #[error("it does not decrypt: the stored value is damaged or belongs to another row")]
    Damaged,
}

/// An AES-256-GCM key for secrets at rest. Its `Debug` shows only the key id.
pub struct EncryptionKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// A key from 32 bytes written in standard base64 (surrounding
    /// whitespace, such as a file's final newline, is ignored). The error
    /// never repeats the input.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            "must be 32 random bytes in standard base64 (`openssl rand -base64 32`)".to_owned()
        })?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "must be 32 bytes in standard base64; it decodes to {} bytes",
                bytes.len()
            )
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The development key: public (its derivation is in the source), so it
    /// keeps the stored format and the upgrade path the same as production
    /// but protects nothing. Only `sqlite://` development instances may use it.
    pub fn development() -> Self {
        let bytes: [u8; KEY_LEN] =
            Sha256::digest(b"steward development encryption key: public, protects nothing").into();
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let mut id_input = Sha256::new();
        id_input.update(b"steward encryption key id\0");
        id_input.update(bytes);
        let id = format!("{:x}", id_input.finalize())[..16].to_owned();
        let key = match UnboundKey::new(&AES_256_GCM, bytes) {
            Ok(key) => LessSafeKey::new(key),
            // Only a key of the wrong length is refused, and this one has
            // exactly KEY_LEN bytes.
            Err(_) => unreachable!("AES-256 accepts every {KEY_LEN}-byte key"),
        };
        Self { key, id }
    }

    /// The key's public id, as written in the values it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for the row and purpose named by `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| anyhow::anyhow!("no random nonce"))?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing a secret failed"))?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}:{}", self.id, STANDARD.encode(stored)))
    }

    /// Opens a value sealed by [`EncryptionKey::seal`] with the same `context`.
    pub fn open(&self, stored: &str, context: &str) -> Result<SecretSlice<u8>, OpenError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(OpenError::Plaintext)?;
        let (id, body) = rest.split_once(':').ok_or(OpenError::Damaged)?;
        if !bool::from(id.as_bytes().ct_eq(self.id.as_bytes())) {
            return Err(OpenError::OtherKey {
                found: id.chars().take(16).collect(),
                expected: self.id.clone(),
            });
        }
        let mut bytes = STANDARD.decode(body).map_err(|_| OpenError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Damaged);
        }
        let mut ciphertext = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| OpenError::Damaged)?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut ciphertext)
            .map_err(|_| OpenError::Damaged)?
            .to_vec();
        // The buffer held the plaintext after the tag was stripped.
        ciphertext.fill(0);
        Ok(SecretSlice::from(plaintext))
    }
}

/// Whether `stored` is a sealed value (of any key) rather than plaintext.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_base64(&STANDARD.encode([byte; KEY_LEN])).expect("valid")
    }

    #[test]
    fn seals_and_opens_bound_to_the_key_and_the_context() {
        let key = key(1);
        let sealed = key
            .seal(b"secret bytes", "signing_keys:kid_1")
            .expect("seals");
        assert!(is_sealed(&sealed));
        assert!(sealed.starts_with(&format!("enc:v1:{}:", key.id())));
        assert!(!sealed.contains("secret"));
        let opened = key.open(&sealed, "signing_keys:kid_1").expect("opens");
        assert_eq!(opened.expose_secret(), b"secret bytes");
        assert!(matches!(
            key.open(&sealed, "signing_keys:kid_2"),
            Err(OpenError::Damaged)
        ));
        assert!(matches!(
            super::tests::key(2).open(&sealed, "signing_keys:kid_1"),
            Err(OpenError::OtherKey { .. })
        ));
        assert!(matches!(
            key.open("c2VjcmV0", "signing_keys:kid_1"),
            Err(OpenError::Plaintext)
        ));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(key.open(&damaged, "signing_keys:kid_1").is_err());
        assert_ne!(
            key.seal(b"secret bytes", "x").expect("seals"),
            key.seal(b"secret bytes", "x").expect("seals"),
            "every seal has a fresh nonce"
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64_and_errors_do_not_echo_them() {
        let err = EncryptionKey::from_base64("not base64 at all!").expect_err("invalid");
        assert!(!err.contains("not base64"));
        let err = EncryptionKey::from_base64(&STANDARD.encode([7u8; 16])).expect_err("short");
        assert!(err.contains("16 bytes"), "{err}");
        let with_newline = format!("{}\n", STANDARD.encode([7u8; KEY_LEN]));
        EncryptionKey::from_base64(&with_newline).expect("a file's newline is fine");
        assert!(!format!("{:?}", key(7)).contains(&STANDARD.encode([7u8; KEY_LEN])));
        assert_ne!(EncryptionKey::development().id(), key(0).id());
    }
}
