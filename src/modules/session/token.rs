//! Session tokens: Clerk v2 claims, RS256, and the refresh economy.
//!
//! Every signed-in page load asks for a token. A client asking again within
//! `session.token_reuse_seconds` gets the token already minted: one map
//! lookup instead of a database read and an RSA signature
//! ([`TokenMinter::reuse`]). That is safe without reading the session,
//! because handing the same client the same token again grants nothing it
//! did not have: the token keeps its expiry. What this process changes
//! about a session (ending it, switching or refreshing its organization)
//! drops its cached tokens at once; a change made by another process shows
//! in this process's tokens within the reuse window. A request naming
//! another organization, origin or lifetime misses the cache, as does a
//! session row whose `updated_at` moved (checked when the row is read).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{minutes_since, SessionRow, SessionToken};
use crate::crypto::ids::new_id;
use crate::instance::Instance;

/// Most cached tokens kept before expired ones are swept.
const CACHE_SWEEP_AT: usize = 100_000;

thread_local! {
    /// `steward_session_tokens_total{outcome="reused"}`, looked up once per
    /// thread (the recorder is installed before any request is served):
    /// finding a labelled counter in the registry cost a reuse hit about as
    /// much as its cache lookup (callgrind).
    static REUSED: metrics::Counter =
        metrics::counter!("steward_session_tokens_total", "outcome" => "reused");
}

/// Clerk's session-token claims, version 2.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    azp: Option<&'a str>,
    exp: i64,
    fva: [i64; 2],
    iat: i64,
    iss: &'a str,
    jti: String,
    nbf: i64,
    sid: &'a str,
    sts: &'static str,
    sub: &'a str,
    v: u8,
    /// The active organization: `{id, slg, rol, per, fpm}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    o: Option<serde_json::Value>,
    /// Features: those the organization permissions are scoped to, then
    /// those of the active plans.
    #[serde(skip_serializing_if = "Option::is_none")]
    fea: Option<String>,
    /// The active plans (`u:pro`, `o:team,u:free`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pla: Option<String>,
}

/// What a token request asks for, beyond the session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenRequest {
    pub session_id: String,
    /// The request's `Origin`, which becomes `azp`.
    pub origin: Option<String>,
    /// A lifetime other than the configured one (Backend API `expires_in_seconds`).
    pub lifetime_secs: Option<i64>,
}

/// A token and what signed it.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The token, written out as its API object.
    pub token: SessionToken,
    /// The signing key's id.
    pub kid: String,
    /// When the token expires, Unix ms.
    pub expires_at_ms: i64,
    /// The token's `jti` when it was signed by this call; `None` when a
    /// recent token was reused.
    pub jti: Option<String>,
}

#[derive(Debug)]
struct Cached {
    token: Minted,
    session_version: i64,
    /// Reusable until then: the reuse window shortened by a random part
    /// (up to a half), so sessions first minted together (after a restart,
    /// a deploy) do not all need a new signature in the same instant.
    reusable_until: Instant,
    /// Who the session belongs to, checked before a reuse without a read.
    client_id: String,
    user_id: String,
    /// The session's active organization when the token was signed.
    organization_id: Option<String>,
    /// The session may get tokens until then (Unix ms): expiry or abandonment.
    usable_until_ms: i64,
}

/// Mints tokens and remembers recent ones for reuse.
#[derive(Debug)]
pub struct TokenMinter {
    issuer: String,
    lifetime_secs: i64,
    reuse_window: Duration,
    cache: Mutex<HashMap<TokenRequest, Cached>>,
}

impl TokenMinter {
    pub fn new(issuer: String, lifetime: Duration, reuse_window: Duration) -> Self {
        Self {
            issuer,
            lifetime_secs: i64::try_from(lifetime.as_secs()).unwrap_or(60),
            reuse_window,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A token for `session` (which the caller found active), reusing a
    /// recent one when nothing it carries has changed.
    pub fn token(
        &self,
        instance: &Instance,
        session: &SessionRow,
        request: TokenRequest,
        now_ms: i64,
    ) -> anyhow::Result<Minted> {
        if let Some(token) = self.reusable(&request, session.updated_at) {
            metrics::counter!("steward_session_tokens_total", "outcome" => "reused").increment(1);
            return Ok(token);
        }
        let iat = now_ms / 1000;
        let jti = new_id("jti");
        let mut snapshot: serde_json::Value =
            serde_json::from_str(&session.claims_snapshot).unwrap_or_default();
        let claims = Claims {
            o: snapshot.get_mut("o").map(serde_json::Value::take),
            fea: snapshot["fea"].as_str().map(str::to_owned),
            pla: snapshot["pla"].as_str().map(str::to_owned),
            azp: request.origin.as_deref(),
            exp: iat + request.lifetime_secs.unwrap_or(self.lifetime_secs),
            fva: [minutes_since(session.first_factor_verified_at, now_ms), -1],
            iat,
            iss: &self.issuer,
            jti: jti.clone(),
            nbf: iat - 10,
            sid: &session.id,
            sts: "active",
            sub: &session.user_id,
            v: 2,
        };
        let (jwt, kid) = instance.keys.sign(&claims, now_ms)?;
        let token = Minted {
            token: SessionToken::new(&jwt),
            kid,
            expires_at_ms: claims.exp * 1000,
            jti: Some(jti),
        };
        metrics::counter!("steward_session_tokens_total", "outcome" => "minted").increment(1);
        self.remember(
            request,
            session,
            Minted {
                jti: None,
                ..token.clone()
            },
        );
        Ok(token)
    }

    /// The token minted within the reuse window for this request, if the
    /// caller is the session's client (`None`: the Backend API) and names
    /// the session's active organization or none (`Some("")`: the personal
    /// workspace). Needs no database read; see the module docs.
    pub fn reuse(
        &self,
        request: &TokenRequest,
        client_id: Option<&str>,
        organization_id: Option<&str>,
        now_ms: i64,
    ) -> Option<SessionToken> {
        if self.reuse_window.is_zero() {
            return None;
        }
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(request)?;
        let usable = Instant::now() < cached.reusable_until
            && now_ms < cached.usable_until_ms
            && client_id.is_none_or(|c| c == cached.client_id)
            && organization_id.is_none_or(|wanted| {
                Some(wanted).filter(|w| !w.is_empty()) == cached.organization_id.as_deref()
            });
        if !usable {
            return None;
        }
        REUSED.with(|counter| counter.increment(1));
        Some(cached.token.token.clone())
    }

    /// The configured lifetime, in seconds.
    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    fn reusable(&self, request: &TokenRequest, session_version: i64) -> Option<Minted> {
        if self.reuse_window.is_zero() {
            return None;
        }
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(request)?;
        (cached.session_version == session_version && Instant::now() < cached.reusable_until)
            .then(|| cached.token.clone())
    }

    fn remember(&self, request: TokenRequest, session: &SessionRow, token: Minted) {
        if self.reuse_window.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_SWEEP_AT {
                let now = Instant::now();
                cache.retain(|_, cached| now < cached.reusable_until);
            }
            cache.insert(
                request,
                Cached {
                    token,
                    session_version: session.updated_at,
                    reusable_until: Instant::now() + jittered(self.reuse_window),
                    client_id: session.client_id.clone(),
                    user_id: session.user_id.clone(),
                    organization_id: session.last_active_organization_id.clone(),
                    usable_until_ms: session.expire_at.min(session.abandon_at),
                },
            );
        }
    }

    /// Forgets cached tokens of a session (it ended or changed).
    pub fn forget_session(&self, session_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|request, _| request.session_id != session_id);
        }
    }

    /// Forgets every cached token (claims of an organization as a whole
    /// changed, whose members this process does not know).
    pub fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Forgets cached tokens of every session of a user (their
    /// organization claims changed).
    pub fn forget_user(&self, user_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, cached| cached.user_id != user_id);
        }
    }
}

/// A random duration between half of `window` and all of it.
fn jittered(window: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly; hashing the time gives a fresh draw.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    let fraction = (hasher.finish() % 1024) as f64 / 2048.0;
    window.mul_f64(0.5 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_windows_are_spread_over_their_second_half() {
        let window = Duration::from_secs(10);
        let draws: Vec<Duration> = (0..200).map(|_| jittered(window)).collect();
        assert!(draws.iter().all(|d| *d >= window / 2 && *d <= window));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100, "the windows differ");
    }
}
