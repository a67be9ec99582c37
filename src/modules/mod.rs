//! Product areas. Each module owns its tables and routes and talks to other
//! modules only through their `service` functions, so a process role can run
//! any subset of them.

use actix_web::web::ServiceConfig;
use serde::{Deserialize, Serialize};

pub mod users;

/// A product area that a process role can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Module {
    /// Backend API user management (`/v1/users`).
    Users,
}

impl Module {
    /// Every module in this build, in mounting order.
    pub const ALL: [Module; 1] = [Module::Users];

    /// The module's name in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
        }
    }

    /// The module called `name`, if this build has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Mounts the module's Backend API routes under `/v1`.
    pub fn configure_backend(self, cfg: &mut ServiceConfig) {
        match self {
            Self::Users => users::backend::configure(cfg),
        }
    }
}
