//! The ids of the product areas this build has.
//!
//! A leaf: it imports nothing of Steward's, so configuration and the data
//! layer can name areas (toggles, roles, per-module databases) without
//! depending on the areas' code or on actix. What an area does lives in its
//! registry entry (`modules::REGISTRY`); adding an area adds one line here.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! areas {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A product area that a process role can serve.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Module {
            $($(#[$doc])* $variant,)*
        }

        impl Module {
            /// Every area in this build.
            pub const ALL: &'static [Module] = &[$(Module::$variant,)*];

            /// The area's name in configuration, on the command line and in
            /// metrics.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

areas! {
    /// Plans, subscriptions, free trials and payments (`/v1/billing`,
    /// `/v1/me/billing`).
    Billing => "billing",
    /// Social sign-in over OAuth 2.0 / OpenID Connect (`/v1/oauth_callback`,
    /// `/v1/oauth_connections`).
    Oauth => "oauth",
    /// Organizations, memberships, roles and permissions.
    Orgs => "orgs",
    /// Enterprise SSO over SAML (`/v1/saml_connections`, `/v1/saml`).
    Saml => "saml",
    /// Clients, sessions and session tokens (the always-on core of sign-in).
    Session => "session",
    /// Sign-in attempts (`/v1/client/sign_ins`).
    Signin => "signin",
    /// Sign-up attempts with email-code verification (`/v1/client/sign_ups`).
    Signup => "signup",
    /// User management (`/v1/users`, `/v1/me`).
    Users => "users",
}

impl Module {
    /// The area called `name`, if this build has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The names of every area, for error messages: `orgs, session, …`.
    pub fn all_names() -> String {
        Self::ALL
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Module {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// By name, so an unknown area in `[modules.*]`, `[roles]` or
/// `database.modules.*` is refused with the list of known ones.
impl<'de> Deserialize<'de> for Module {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown module `{name}` (this build has {})",
                Self::all_names()
            ))
        })
    }
}
