//! Typed ids for the objects several areas pass to each other's services.
//!
//! Every id is a prefixed string (`user_…`, `sess_…`, `client_…`,
//! `org_…`); as plain `String`s a user id could be passed where a session
//! id belongs and only a test would notice. A service that takes one of
//! these says which id it means, and the compiler checks the caller. They
//! serialize as the bare string. A leaf module: it depends on nothing in
//! Steward, so any module can use it.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as stored and sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user's id (`user_…`).
    UserId
);
id_type!(
    /// A session's id (`sess_…`).
    SessionId
);
id_type!(
    /// A client's id (`client_…`).
    ClientId
);
id_type!(
    /// An organization's id (`org_…`), or its slug where an endpoint takes
    /// either.
    OrganizationId
);

#[cfg(test)]
mod tests {
    use super::UserId;

    #[test]
    fn ids_serialize_as_the_bare_string() {
        let id = UserId::from("user_1".to_owned());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"user_1\"");
        let back: UserId = serde_json::from_str("\"user_1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(String::from(back), "user_1");
    }
}
