//! Password hashing: Argon2id for every new password, and verification of
//! digests imported from other systems (bcrypt, Argon2i, Argon2id) so users
//! can move to Steward without resetting their passwords. A user whose
//! stored digest is weaker than the current policy is re-hashed after a
//! successful verification. Digests above the configured cost limits are
//! neither imported nor verified: one check of a bcrypt cost-31 or a 4 GiB
//! Argon2 digest would hold a hashing thread (and its memory) for as long as
//! its author chose.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::{Argon2Settings, DigestCostLimits};

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

    /// Checks that a well-formed digest's cost is within `limits`; the
    /// error says which cost is too high and what the limit is.
    pub fn check_cost(self, digest: &str, limits: &DigestCostLimits) -> Result<(), String> {
        match self {
            Self::Argon2id | Self::Argon2i => {
                let params = PasswordHash::new(digest)
                    .and_then(|parsed| Params::try_from(&parsed))
                    .map_err(|e| format!("the {} parameters are invalid: {e}", self.name()))?;
                let costs = [
                    (
                        "memory (m)",
                        params.m_cost(),
                        limits.argon2_max_memory_kib,
                        " KiB",
                    ),
                    (
                        "time (t)",
                        params.t_cost(),
                        limits.argon2_max_iterations,
                        "",
                    ),
                    (
                        "parallelism (p)",
                        params.p_cost(),
                        limits.argon2_max_parallelism,
                        "",
                    ),
                ];
                match costs.iter().find(|(_, cost, max, _)| cost > max) {
                    Some((what, cost, max, unit)) => Err(format!(
                        "the {} {what} cost is {cost}{unit}, above this server's limit of {max}{unit}",
                        self.name()
                    )),
                    None => Ok(()),
                }
            }
            Self::Bcrypt => {
                let cost = digest
                    .parse::<bcrypt::HashParts>()
                    .map_err(|e| format!("not a bcrypt digest: {e}"))?
                    .get_cost();
                if cost > limits.bcrypt_max_cost {
                    return Err(format!(
                        "the bcrypt cost is {cost}, above this server's limit of {}",
                        limits.bcrypt_max_cost
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Hashes new passwords with the configured Argon2id cost and verifies
/// stored digests of any supported algorithm.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    limits: DigestCostLimits,
    /// A digest of nothing anyone knows, made on first use with the current
    /// cost: verifying against it costs what a real check costs.
    dummy_digest: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    /// A hasher with the configured cost and limits, or why the cost is
    /// invalid (or above the limits, which would make every new digest
    /// unverifiable).
    pub fn from_settings(
        settings: &Argon2Settings,
        limits: &DigestCostLimits,
    ) -> Result<Self, String> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| format!("invalid Argon2 parameters: {e}"))?;
        if settings.memory_kib > limits.argon2_max_memory_kib
            || settings.iterations > limits.argon2_max_iterations
            || settings.parallelism > limits.argon2_max_parallelism
        {
            return Err(
                "the Argon2 cost is above security.digest_cost_limits: new digests could not be verified"
                    .to_owned(),
            );
        }
        Ok(Self {
            params,
            limits: limits.clone(),
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
    ///
    /// A digest above the cost limits (stored before the limits existed, or
    /// written to the database directly) is not verified: the check costs
    /// what a normal one costs and fails, and a warning names the cost so the
    /// operator can set a new password for the user.
    pub fn verify(&self, hasher: Hasher, digest: &str, password: &str) -> bool {
        if let Err(problem) = hasher.check_cost(digest, &self.limits) {
            tracing::warn!(
                %problem,
                "a stored password digest is not verified: its cost is above security.digest_cost_limits"
            );
            self.verify_nothing(password);
            return false;
        }
        self.verify_within_limits(hasher, digest, password)
    }

    fn verify_within_limits(&self, hasher: Hasher, digest: &str, password: &str) -> bool {
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
        let _ = self.verify_within_limits(Hasher::Argon2id, digest, password);
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

    fn limits() -> DigestCostLimits {
        DigestCostLimits {
            bcrypt_max_cost: 14,
            argon2_max_memory_kib: 262_144,
            argon2_max_iterations: 10,
            argon2_max_parallelism: 16,
        }
    }

    fn hasher_with(limits: &DigestCostLimits) -> PasswordHasher {
        PasswordHasher::from_settings(
            &Argon2Settings {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1,
            },
            limits,
        )
        .expect("valid")
    }

    fn hasher() -> PasswordHasher {
        hasher_with(&limits())
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

    /// Well-formed digests whose cost is above the limits: bcrypt cost 31
    /// and Argon2id with 4 GiB, 11 passes or 17 lanes.
    const BCRYPT_31: &str = "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    const ARGON2_4GIB: &str =
        "$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

    #[test]
    fn costs_above_the_limits_are_named() {
        let limits = limits();
        let err = Hasher::Bcrypt
            .check_cost(BCRYPT_31, &limits)
            .expect_err("too costly");
        assert!(
            err.contains("bcrypt cost is 31") && err.contains("limit of 14"),
            "{err}"
        );
        let err = Hasher::Argon2id
            .check_cost(ARGON2_4GIB, &limits)
            .expect_err("too costly");
        assert!(err.contains("memory (m) cost is 4194304 KiB"), "{err}");
        let many_passes = ARGON2_4GIB.replace("m=4194304,t=3", "m=19456,t=11");
        let err = Hasher::Argon2id
            .check_cost(&many_passes, &limits)
            .expect_err("too costly");
        assert!(err.contains("time (t) cost is 11"), "{err}");
        let many_lanes = ARGON2_4GIB.replace("m=4194304,t=3,p=1", "m=19456,t=2,p=17");
        let err = Hasher::Argon2id
            .check_cost(&many_lanes, &limits)
            .expect_err("too costly");
        assert!(err.contains("parallelism (p) cost is 17"), "{err}");
        let fine = ARGON2_4GIB.replace("m=4194304", "m=19456");
        Hasher::Argon2id
            .check_cost(&fine, &limits)
            .expect("within the limits");
        let bcrypt_12 = BCRYPT_31.replace("$31$", "$12$");
        Hasher::Bcrypt
            .check_cost(&bcrypt_12, &limits)
            .expect("within the limits");
    }

    #[test]
    fn stored_digests_above_the_limits_are_not_verified() {
        let digest = bcrypt::hash("hunter22", 5).expect("hashes");
        let mut tight = limits();
        tight.bcrypt_max_cost = 4;
        assert!(hasher().verify(Hasher::Bcrypt, &digest, "hunter22"));
        assert!(!hasher_with(&tight).verify(Hasher::Bcrypt, &digest, "hunter22"));
    }

    #[test]
    fn the_new_digest_cost_must_be_within_the_limits() {
        let mut tight = limits();
        tight.argon2_max_memory_kib = 8192;
        let err = PasswordHasher::from_settings(
            &Argon2Settings {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1,
            },
            &tight,
        )
        .expect_err("new digests would be refused");
        assert!(err.contains("digest_cost_limits"), "{err}");
    }
}
