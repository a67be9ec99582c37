//! `[server]` and `[frontend]`: where the two listeners bind, the public URL,
//! and which browser origins may make state-changing Frontend API requests.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Frontend API request rules.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendSettings {
    /// Origins (besides the public URL's) whose browser requests may change state.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub frontend_addr: SocketAddr,
    pub backend_addr: SocketAddr,
    /// Empty means `http://{frontend_addr}`; use
    /// [`Settings::public_url`](super::Settings::public_url).
    pub public_url: String,
    pub workers: usize,
    pub max_body_bytes: usize,
}
