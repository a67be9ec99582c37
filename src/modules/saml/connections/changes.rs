//! Which columns an update changed, so that they alone are applied again
//! to the row as it is under its lock (two updates of different fields
//! both stay).

use super::super::model::ConnectionRow;

/// Calls `$apply!` with every column an update may change.
macro_rules! changeable_fields {
    ($apply:ident) => {
        $apply!(
            name,
            provider,
            idp_entity_id,
            idp_sso_url,
            idp_certificate,
            idp_metadata_url,
            idp_metadata,
            organization_id,
            attribute_mapping,
            active,
            sync_user_attributes,
            allow_subdomains,
            allow_idp_initiated,
            disable_additional_identifications,
            allow_organization_account_linking,
            login_hint,
            force_authn
        )
    };
}

/// The columns an update changed, applied again to the row as it is under
/// the lock.
#[derive(Debug, Clone)]
pub(super) struct ChangedFields(ConnectionRow, Vec<&'static str>);

impl ChangedFields {
    pub(super) fn between(before: &ConnectionRow, after: &ConnectionRow) -> Self {
        macro_rules! diff {
            ($($field:ident),*) => {{
                let mut names = Vec::new();
                $(if before.$field != after.$field { names.push(stringify!($field)); })*
                names
            }};
        }
        let names = changeable_fields!(diff);
        Self(after.clone(), names)
    }

    pub(super) fn apply(&self, row: &mut ConnectionRow) {
        let new = &self.0;
        macro_rules! copy {
            ($($field:ident),*) => {
                $(if self.1.contains(&stringify!($field)) { row.$field = new.$field.clone(); })*
            };
        }
        changeable_fields!(copy);
    }
}
