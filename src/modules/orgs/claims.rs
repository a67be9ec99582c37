//! What a membership puts in session tokens, in Clerk's v2 form:
//! `o: {id, slg, rol, per, fpm}` and the top-level `fea`.
//!
//! Custom permissions are `org:<feature>:<action>`. The token lists the
//! features once (`fea`, scoped `o:`), the actions once (`per`), and per
//! feature a bitmask of the actions granted on it (`fpm`), which is how
//! Clerk's SDKs rebuild `org:<feature>:<action>`. System permissions
//! (`org:sys_*`) are not carried, as with Clerk; SDKs derive them from the
//! role.

use serde_json::{json, Map, Value};

use super::model::{MembershipRow, OrganizationRow};
use super::store;
use crate::db::DbConnection;
use crate::http::ApiError;

/// The role's display name and every permission key it grants.
pub fn role_details(
    conn: &mut DbConnection,
    role_key: &str,
) -> Result<(String, Vec<String>), ApiError> {
    let Some(role) = store::find_role(conn, role_key)? else {
        return Ok((role_key.to_owned(), Vec::new()));
    };
    let permissions = store::permissions_of_role(conn, &role.id)?
        .into_iter()
        .map(|p| p.permission_key)
        .collect();
    Ok((role.name, permissions))
}

/// Whether `role_key` grants `permission_key`.
pub fn role_has_permission(
    conn: &mut DbConnection,
    role_key: &str,
    permission_key: &str,
) -> Result<bool, ApiError> {
    Ok(role_details(conn, role_key)?
        .1
        .iter()
        .any(|p| p == permission_key))
}

/// The claims snapshot for a session whose active organization is `org`.
pub fn snapshot(
    conn: &mut DbConnection,
    org: &OrganizationRow,
    membership: &MembershipRow,
) -> Result<Value, ApiError> {
    let (_, permissions) = role_details(conn, &membership.role)?;
    Ok(encode(org, &membership.role, &permissions))
}

/// Encodes the claims (pure, for testing).
pub fn encode(org: &OrganizationRow, role: &str, permissions: &[String]) -> Value {
    let mut features: Vec<&str> = Vec::new();
    let mut actions: Vec<&str> = Vec::new();
    let mut granted: Vec<(&str, &str)> = Vec::new();
    for key in permissions {
        let mut parts = key.splitn(3, ':');
        let (Some("org"), Some(feature), Some(action)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if feature.starts_with("sys_") {
            continue;
        }
        if !features.contains(&feature) {
            features.push(feature);
        }
        if !actions.contains(&action) {
            actions.push(action);
        }
        granted.push((feature, action));
    }
    let mut o = Map::new();
    o.insert("id".into(), json!(org.id));
    o.insert("slg".into(), json!(org.slug));
    o.insert(
        "rol".into(),
        json!(role.strip_prefix("org:").unwrap_or(role)),
    );
    let mut snapshot = Map::new();
    if !features.is_empty() {
        let masks: Vec<String> = features
            .iter()
            .map(|feature| {
                let mask = actions
                    .iter()
                    .enumerate()
                    .filter(|(_, action)| granted.contains(&(feature, action)))
                    .fold(0u64, |mask, (bit, _)| mask | (1 << bit));
                mask.to_string()
            })
            .collect();
        o.insert("per".into(), json!(actions.join(",")));
        o.insert("fpm".into(), json!(masks.join(",")));
        let scoped: Vec<String> = features.iter().map(|f| format!("o:{f}")).collect();
        snapshot.insert("fea".into(), json!(scoped.join(",")));
    }
    snapshot.insert("o".into(), Value::Object(o));
    Value::Object(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrganizationRow {
        OrganizationRow {
            id: "org_1".into(),
            name: "Acme".into(),
            slug: "acme".into(),
            max_allowed_memberships: 0,
            admin_delete_enabled: true,
            public_metadata: "{}".into(),
            private_metadata: "{}".into(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn system_permissions_stay_out_and_custom_ones_are_bitmasked() {
        let claims = encode(&org(), "org:admin", &["org:sys_profile:manage".into()]);
        assert_eq!(
            claims,
            json!({"o": {"id": "org_1", "slg": "acme", "rol": "admin"}})
        );

        let permissions: Vec<String> = [
            "org:dashboard:read",
            "org:dashboard:manage",
            "org:billing:manage",
        ]
        .map(String::from)
        .to_vec();
        let claims = encode(&org(), "org:editor", &permissions);
        assert_eq!(claims["o"]["rol"], "editor");
        assert_eq!(claims["o"]["per"], "read,manage");
        assert_eq!(
            claims["o"]["fpm"], "3,2",
            "dashboard: read+manage, billing: manage"
        );
        assert_eq!(claims["fea"], "o:dashboard,o:billing");
    }
}
