//! Client tokens: the HS256 JWT that names a Frontend API client, held by
//! browsers in the `__client` cookie and by native apps in `Authorization`.
//!
//! A token stays valid for as long as its client exists (whether it still
//! does is the caller's question, answered by the database), so whether a
//! string is a token this instance signed, and which client it names, never
//! changes. Verified tokens are therefore remembered: a signed-in tab asks
//! for a session token every minute, and the HMAC, two base64 decodings and
//! a JSON parse were a fifth of what a reuse hit cost (callgrind).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::jwt::Hs256Key;

/// Verified tokens remembered per generation; at most twice this many are
/// held. About 250 bytes each.
const GENERATION_CAPACITY: usize = 8192;

/// What a client token carries. `iat` is informational.
#[derive(Debug, Serialize, Deserialize)]
struct ClientClaims {
    id: String,
    iat: i64,
}

/// Signs client tokens and checks them, remembering the ones that verified.
pub struct ClientTokens {
    key: Hs256Key,
    verified: Mutex<Generations>,
}

impl std::fmt::Debug for ClientTokens {
    // Neither the key nor the remembered tokens belong in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTokens").finish_non_exhaustive()
    }
}

impl ClientTokens {
    /// Tokens signed with `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Hs256Key::new(secret),
            verified: Mutex::new(Generations::default()),
        }
    }

    /// A new token naming `client_id`, issued at `iat` (Unix seconds).
    pub fn issue(&self, client_id: &str, iat: i64) -> anyhow::Result<String> {
        self.key.sign(&ClientClaims {
            id: client_id.to_owned(),
            iat,
        })
    }

    /// The client `token` names, or `None` when this instance did not sign
    /// it (a bad signature, another algorithm, a malformed token).
    ///
    /// Only tokens that verified are remembered, so a forged one is checked
    /// in full every time. The lookup hashes with std's randomly keyed
    /// SipHash before it compares strings, so how long a comparison takes
    /// tells a caller nothing about a token it does not already hold.
    pub fn client_of(&self, token: &str) -> Option<String> {
        if let Some(client_id) = self.lock().get(token) {
            return Some(client_id);
        }
        let claims = self.key.verify::<ClientClaims>(token)?;
        let dropped = self.lock().insert(token, &claims.id);
        // A full generation's thousands of strings are freed here, after
        // the lock is released, not while other requests wait for it.
        drop(dropped);
        Some(claims.id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps hold no invariant a panicking holder could break.
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A bounded map that keeps what is used: lookups read the current
/// generation, then the previous one (moving a hit forward); when the
/// current one fills up it becomes the previous, and the old previous is
/// dropped. Each step is O(1), with no per-entry bookkeeping.
#[derive(Default)]
struct Generations {
    current: HashMap<Box<str>, Box<str>>,
    previous: HashMap<Box<str>, Box<str>>,
}

impl Generations {
    /// The client `token` names, if remembered. A hit in the previous
    /// generation moves to the current one while that has room; a full
    /// current generation is rotated only by [`Generations::insert`].
    fn get(&mut self, token: &str) -> Option<String> {
        if let Some(client_id) = self.current.get(token) {
            return Some(client_id.to_string());
        }
        if self.current.len() >= GENERATION_CAPACITY {
            return self.previous.get(token).map(|id| id.to_string());
        }
        let (token, client_id) = self.previous.remove_entry(token)?;
        let found = client_id.to_string();
        self.current.insert(token, client_id);
        Some(found)
    }

    /// Remembers a verified token; returns the generation that aged out,
    /// if one did, for the caller to drop outside the lock.
    fn insert(&mut self, token: &str, client_id: &str) -> Option<HashMap<Box<str>, Box<str>>> {
        let aged_out = (self.current.len() >= GENERATION_CAPACITY).then(|| {
            let full = std::mem::take(&mut self.current);
            std::mem::replace(&mut self.previous, full)
        });
        self.current.insert(token.into(), client_id.into());
        aged_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_name_their_client_and_others_name_none() {
        let tokens = ClientTokens::new(&[7u8; 32]);
        let token = tokens.issue("client_1", 1_700_000_000).expect("signs");
        assert_eq!(tokens.client_of(&token).as_deref(), Some("client_1"));
        // Again, now from memory.
        assert_eq!(tokens.client_of(&token).as_deref(), Some("client_1"));
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert_eq!(tokens.client_of(&tampered), None);
        assert_eq!(ClientTokens::new(&[8u8; 32]).client_of(&token), None);
        assert_eq!(tokens.client_of("garbage"), None);
    }

    #[test]
    fn a_forged_token_is_never_remembered() {
        let tokens = ClientTokens::new(&[7u8; 32]);
        let other = ClientTokens::new(&[8u8; 32]);
        let forged = other.issue("client_1", 1).expect("signs");
        assert_eq!(tokens.client_of(&forged), None);
        let held = tokens.lock();
        assert!(held.current.is_empty() && held.previous.is_empty());
    }

    #[test]
    fn the_memory_is_bounded_and_keeps_what_is_used() {
        let mut held = Generations::default();
        held.insert("kept", "client_kept");
        for n in 0..GENERATION_CAPACITY {
            held.insert(&format!("t{n}"), "c");
        }
        // "kept" moved to the previous generation; a hit brings it back.
        assert_eq!(held.get("kept").as_deref(), Some("client_kept"));
        let aged_out: Vec<_> = (0..GENERATION_CAPACITY)
            .filter_map(|n| held.insert(&format!("u{n}"), "c"))
            .collect();
        assert_eq!(aged_out.len(), 1, "one generation aged out");
        assert!(aged_out[0].contains_key("t0") && !aged_out[0].contains_key("kept"));
        assert_eq!(held.get("kept").as_deref(), Some("client_kept"));
        assert_eq!(held.get("t0"), None, "unused entries age out");
        assert!(held.current.len() + held.previous.len() <= 2 * GENERATION_CAPACITY);
    }
}
