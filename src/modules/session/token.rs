//! Session tokens: Clerk v2 claims, RS256, and the refresh economy.
//!
//! Every signed-in page load asks for a token. A client asking again within
//! `session.token_reuse_seconds` for a session whose claims have not changed
//! gets the token already minted: one map lookup instead of an RSA
//! signature. A change of the session row (`updated_at`: touch, organization
//! switch, claims snapshot refresh), of the origin or of the requested
//! organization misses the cache and mints afresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{minutes_since, SessionRow};
use crate::crypto::ids::new_id;
use crate::instance::Instance;

/// Most cached tokens kept before expired ones are swept.
const CACHE_SWEEP_AT: usize = 100_000;

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
    /// Features the organization permissions are scoped to.
    #[serde(skip_serializing_if = "Option::is_none")]
    fea: Option<String>,
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
    pub jwt: String,
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
    minted: Instant,
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
            jwt,
            kid,
            expires_at_ms: claims.exp * 1000,
            jti: Some(jti),
        };
        metrics::counter!("steward_session_tokens_total", "outcome" => "minted").increment(1);
        self.remember(
            request,
            session.updated_at,
            Minted {
                jti: None,
                ..token.clone()
            },
        );
        Ok(token)
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
        (cached.session_version == session_version && cached.minted.elapsed() < self.reuse_window)
            .then(|| cached.token.clone())
    }

    fn remember(&self, request: TokenRequest, session_version: i64, token: Minted) {
        if self.reuse_window.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_SWEEP_AT {
                let window = self.reuse_window;
                cache.retain(|_, cached| cached.minted.elapsed() < window);
            }
            cache.insert(
                request,
                Cached {
                    token,
                    session_version,
                    minted: Instant::now(),
                },
            );
        }
    }

    /// Forgets cached tokens of a session (it ended or was revoked).
    pub fn forget_session(&self, session_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|request, _| request.session_id != session_id);
        }
    }
}
