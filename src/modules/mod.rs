//! Product areas. Each module owns its tables and routes and talks to other
//! modules only through their `service` functions, so a process role can run
//! any subset of them.

use actix_web::web::ServiceConfig;
use serde::{Deserialize, Serialize};

pub mod orgs;
pub mod session;
pub mod signin;
pub mod signup;
pub mod users;

/// A product area that a process role can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Module {
    /// Organizations, memberships, roles and permissions.
    Orgs,
    /// Clients, sessions and session tokens (the always-on core of sign-in).
    Session,
    /// Sign-in attempts (`/v1/client/sign_ins`).
    Signin,
    /// Sign-up attempts with email-code verification (`/v1/client/sign_ups`).
    Signup,
    /// User management (`/v1/users`).
    Users,
}

impl Module {
    /// Every module in this build, in mounting order.
    pub const ALL: [Module; 5] = [
        Module::Orgs,
        Module::Session,
        Module::Signin,
        Module::Signup,
        Module::Users,
    ];

    /// The module's name in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Orgs => "orgs",
            Self::Session => "session",
            Self::Signin => "signin",
            Self::Signup => "signup",
            Self::Users => "users",
        }
    }

    /// The module called `name`, if this build has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Mounts the module's Frontend API routes under `/v1`.
    pub fn configure_frontend(self, cfg: &mut ServiceConfig) {
        match self {
            Self::Orgs => orgs::frontend::configure(cfg),
            Self::Session => {
                session::frontend::configure(cfg);
                crate::fapi::configure_session_routes(cfg);
            }
            Self::Signin => signin::frontend::configure(cfg),
            Self::Signup => signup::frontend::configure(cfg),
            Self::Users => users::frontend::configure(cfg),
        }
    }

    /// Mounts the module's Backend API routes under `/v1`.
    pub fn configure_backend(self, cfg: &mut ServiceConfig) {
        match self {
            Self::Orgs => orgs::backend::configure(cfg),
            Self::Session => {
                session::backend::configure(cfg);
                crate::bapi::configure_session_routes(cfg);
            }
            Self::Signin => signin::backend::configure(cfg),
            // Sign-ups have no Backend API.
            Self::Signup => {}
            Self::Users => users::backend::configure(cfg),
        }
    }
}
