//! What every handler can reach: settings, databases, the instance.

use std::sync::Arc;

use crate::config::Settings;
use crate::crypto::hash_threads::HashThreads;
use crate::crypto::password::PasswordHasher;
use crate::db::Database;
use crate::instance::{Instance, SecretKeyVerifier};
use crate::modules::session::{SessionWrites, TokenMinter, TokenSessionReads};
use crate::notify::Mailer;

/// Shared application state, one per process, cloned into each worker.
#[derive(Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// [`Settings::public_url`], built once: browser requests compare their
    /// `Origin` with it and mark cookies `Secure` from it.
    pub public_url: String,
    pub db: Database,
    pub instance: Instance,
    pub secret_keys: SecretKeyVerifier,
    pub passwords: PasswordHasher,
    /// Mints session tokens and keeps the reuse cache.
    pub tokens: TokenMinter,
    /// The session reads behind fresh tokens, coalesced per worker.
    pub token_reads: TokenSessionReads,
    /// Sends verification codes.
    pub mailer: Mailer,
    /// Low-priority threads for password hashing.
    pub hash_threads: HashThreads,
    /// The session API's writes and their outage spool.
    pub session_writes: Arc<SessionWrites>,
    /// The enabled areas' own states (see `modules::Area::init`).
    pub areas: crate::modules::AreaStates,
}

impl AppState {
    /// `module`'s own state, of the type its `init` built. `None` when the
    /// area is switched off (its routes and jobs then do not run).
    pub fn area<T: 'static>(&self, module: crate::modules::Module) -> Option<&T> {
        self.areas.get(module)
    }
}
