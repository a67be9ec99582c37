//! Typed ids for the objects that cross a service boundary.
//!
//! Every id is a prefixed string (`user_…`, `sess_…`, `client_…`,
//! `org_…`, `sia_…`, …); as plain `String`s a user id could be passed where
//! a session id belongs and only a test would notice. Every area's service
//! (users, orgs, session, sign-in, sign-up) takes and returns these, so each
//! says which id it means and the compiler checks the caller; handlers
//! convert path parameters on the way in, and rows stay plain `String`s
//! (diesel's columns), converted at the service boundary. Where an endpoint
//! takes an id or a second unique name (an organization's slug, a role's
//! key), the service takes a reference type instead ([`OrgIdOrSlug`],
//! [`RoleIdOrKey`], [`PermissionIdOrKey`]) rather than calling the name an
//! id. They serialize as the bare string. A leaf module: it depends on
//! nothing in Steward, so any module can use it.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// An organization's id (`org_…`). Where an endpoint also takes a slug,
    /// the service takes an [`OrgIdOrSlug`] instead.
    OrganizationId
);
id_type!(
    /// A user's email address's id (`idn_…`).
    EmailAddressId
);
id_type!(
    /// A sign-in attempt's id (`sia_…`).
    SignInId
);
id_type!(
    /// A sign-up attempt's id (`sua_…`).
    SignUpId
);
id_type!(
    /// An organization invitation's id (`orginv_…`).
    InvitationId
);
id_type!(
    /// A sign-in token's id (`sit_…`), the handle for revoking its ticket.
    SignInTokenId
);

/// A reference to an object by its id *or* a second unique name (a slug,
/// a key), as the endpoints that accept either receive it. Not an id: the
/// text names an object only once it matches one of the two columns, and
/// the name may itself look like an id (slugs and keys allow `_`, so
/// `org_…` is a valid slug), so the lookup tries both rather than guessing
/// from the shape.
macro_rules! id_or_name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id or name as the caller gave it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id_or_name: String) -> Self {
                Self(id_or_name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_or_name_type!(
    /// An organization named by its id or its slug.
    OrgIdOrSlug
);
id_or_name_type!(
    /// An organization role named by its id or its key (`org:admin`).
    RoleIdOrKey
);
id_or_name_type!(
    /// An organization permission named by its id or its key.
    PermissionIdOrKey
);

/// Every organization id is also a valid reference: it matches the id
/// column.
impl From<OrganizationId> for OrgIdOrSlug {
    fn from(id: OrganizationId) -> Self {
        Self(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{OrgIdOrSlug, OrganizationId, UserId};

    #[test]
    fn ids_serialize_as_the_bare_string() {
        let id = UserId::from("user_1".to_owned());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"user_1\"");
        let back: UserId = serde_json::from_str("\"user_1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(String::from(back), "user_1");
    }

    #[test]
    fn an_org_reference_keeps_the_text_whichever_it_names() {
        let by_slug: OrgIdOrSlug = serde_json::from_str("\"org_like_slug\"").unwrap();
        assert_eq!(by_slug.as_str(), "org_like_slug");
        let by_id = OrgIdOrSlug::from(OrganizationId::from("org_1".to_owned()));
        assert_eq!(by_id.as_str(), "org_1");
    }
}
