//! Password hashing: Argon2id for every new password, and verification of
//! digests imported from other systems (bcrypt, Argon2i, Argon2id) so users
//! can move to Steward without resetting their passwords. A user whose
//! stored digest is weaker than the current policy is re-hashed after a
//! successful verification.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Settings;

/// A password digest algorithm Steward can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hasher {
    Argon2id,
    Argon2i,
    Bcrypt,
}

impl Hasher {
    /// Every name accepted as `password_hasher`.
    pub const NAMES: [&'static str; 3] = ["argon2id", "argon2i", "bcrypt"];

    /// Clerk's name for the algorithm (`password_hasher`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Argon2i => "argon2i",
            Self::Bcrypt => "bcrypt",
        }
    }

    /// The algorithm called `name`, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "argon2id" => Some(Self::Argon2id),
            "argon2i" => Some(Self::Argon2i),
            "bcrypt" => Some(Self::Bcrypt),
            _ => None,
        }
    }

    /// Checks that `digest` is a well-formed digest of this algorithm, so a
    /// bad import is refused at once instead of locking the user out later.
    pub fn check_digest(self, digest: &str) -> Result<(), String> {
        match self {
            Self::Argon2id | Self::Argon2i => {
                let parsed = PasswordHash::new(digest)
                    .map_err(|e| format!("not a PHC-format {} digest: {e}", self.name()))?;
                if parsed.algorithm.as_str() != self.name() {
                    return Err(format!(
                        "the digest is {}, not {}",
                        parsed.algorithm.as_str(),
                        self.name()
                    ));
                }
                if parsed.hash.is_none() || parsed.salt.is_none() {
                    return Err("the digest has no salt or hash".to_owned());
                }
                Ok(())
            }
            Self::Bcrypt => digest
                .parse::<bcrypt::HashParts>()
                .map(drop)
                .map_err(|e| format!("not a bcrypt digest: {e}")),
        }
    }
}

/// Hashes new passwords with the configured Argon2id cost and verifies
/// stored digests of any supported algorithm.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A digest of nothing anyone knows, made on first use with the current
    /// cost: verifying against it costs what a real check costs.
    dummy_digest: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    /// A hasher with the configured cost, or why the cost is invalid.
    pub fn from_settings(settings: &Argon2Settings) -> Result<Self, String> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| format!("invalid Argon2 parameters: {e}"))?;
        Ok(Self {
            params,
            dummy_digest: Arc::new(OnceLock::new()),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC-format Argon2id digest of `password` with a fresh salt.
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Ok(self
            .argon2()
            .hash_password(password.as_bytes(), &salt)?
            .to_string())
    }

    /// Whether `password` matches `digest` made by `hasher`. Comparisons are
    /// constant-time inside both libraries.
    pub fn verify(&self, hasher: Hasher, digest: &str, password: &str) -> bool {
        match hasher {
            Hasher::Argon2id | Hasher::Argon2i => PasswordHash::new(digest)
                .map(|parsed| {
                    // The digest carries its own parameters; verify with them.
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false),
            Hasher::Bcrypt => bcrypt::verify(password, digest).unwrap_or(false),
        }
    }

    /// Spends the time of one password check and learns nothing: used when
    /// the user does not exist, so timing does not reveal that.
    pub fn verify_nothing(&self, password: &str) {
        let digest = self.dummy_digest.get_or_init(|| {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
            self.hash(&String::from_utf8_lossy(&secret))
                .unwrap_or_default()
        });
        let _ = self.verify(Hasher::Argon2id, digest, password);
    }

    /// Whether a digest should be replaced by one made with the current policy.
    pub fn needs_rehash(&self, hasher: Hasher, digest: &str) -> bool {
        if hasher != Hasher::Argon2id {
            return true;
        }
        match PasswordHash::new(digest).and_then(|h| Params::try_from(&h)) {
            Ok(params) => {
                params.m_cost() < self.params.m_cost()
                    || params.t_cost() < self.params.t_cost()
                    || params.p_cost() < self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::from_settings(&Argon2Settings {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        })
        .expect("valid")
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hasher();
        let digest = h.hash("correct horse battery staple").expect("hashes");
        assert!(digest.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(Hasher::Argon2id, &digest, "correct horse battery staple"));
        assert!(!h.verify(Hasher::Argon2id, &digest, "wrong"));
        assert!(!h.needs_rehash(Hasher::Argon2id, &digest));
    }

    #[test]
    fn imports_bcrypt_and_argon2i() {
        let h = hasher();
        let bcrypt_digest = bcrypt::hash("hunter22", 4).expect("hashes");
        Hasher::Bcrypt.check_digest(&bcrypt_digest).expect("valid");
        assert!(h.verify(Hasher::Bcrypt, &bcrypt_digest, "hunter22"));
        assert!(!h.verify(Hasher::Bcrypt, &bcrypt_digest, "hunter23"));
        assert!(h.needs_rehash(Hasher::Bcrypt, &bcrypt_digest));

        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"hunter22", &salt)
            .expect("hashes")
            .to_string();
        Hasher::Argon2i.check_digest(&argon2i).expect("valid");
        assert!(Hasher::Argon2id.check_digest(&argon2i).is_err());
        assert!(h.verify(Hasher::Argon2i, &argon2i, "hunter22"));
    }

    #[test]
    fn malformed_digests_are_refused() {
        assert!(Hasher::Bcrypt.check_digest("$2b$nonsense").is_err());
        assert!(Hasher::Argon2id.check_digest("plain").is_err());
        assert!(!hasher().verify(Hasher::Argon2id, "plain", "plain"));
    }
}
