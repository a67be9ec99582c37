//! The session area's copy of claims that belong to a user or to an
//! organization as a whole: billing's plan and features (`pla`, `fea`)
//! now. Contributors push them through the outbox; a token's claims are
//! composed from this copy and the membership claims ([`compose`]), so
//! minting never reads the contributor's database.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::claims::membership_claims;
use super::service::pool;
use crate::db::schema::session_scope_claims as scoped;
use crate::db::schema::sessions;
use crate::db::{on_backend, DbConnection, DbPool};
use crate::http::ApiError;
use crate::outbox::{Message, Receiver};
use crate::state::AppState;
use crate::time::now_ms;

use super::model::status;

/// The outbox topic of [`ScopeClaims`].
pub const SCOPE_CLAIMS_TOPIC: &str = "session.scope_claims";

/// Claims lists that several contributors add to rather than replace:
/// Clerk's comma-separated `pla` (plans) and `fea` (features).
const LIST_CLAIMS: [&str; 2] = ["pla", "fea"];

/// One contributor's claims for a user or an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeClaims {
    /// `user:<id>` or `org:<id>` (see [`ScopeClaims::user`], [`ScopeClaims::org`]).
    pub scope: String,
    pub contributor: String,
    /// `None`: the contributor has nothing for the scope.
    pub claims: Option<Value>,
}

impl ScopeClaims {
    pub fn user(user_id: &str) -> String {
        format!("user:{user_id}")
    }

    pub fn org(organization_id: &str) -> String {
        format!("org:{organization_id}")
    }

    /// The outbox entity: one version sequence per (scope, contributor).
    pub fn entity(scope: &str, contributor: &str) -> String {
        format!("{contributor}/{scope}")
    }
}

/// Applies [`ScopeClaims`] deliveries to `session_scope_claims` and to the
/// snapshots of the sessions they concern.
#[derive(Debug)]
pub struct ScopeClaimsReceiver;

/// The receiver contributing areas deliver scope claims to.
pub static SCOPE_CLAIMS: ScopeClaimsReceiver = ScopeClaimsReceiver;

impl Receiver for ScopeClaimsReceiver {
    fn topics(&self) -> &'static [&'static str] {
        &[SCOPE_CLAIMS_TOPIC]
    }

    fn database(&self, state: &AppState) -> DbPool {
        pool(state)
    }

    fn apply(&self, conn: &mut DbConnection, message: &Message) -> Result<bool, ApiError> {
        let change: ScopeClaims = match serde_json::from_str(&message.payload) {
            Ok(change) => change,
            Err(error) => {
                tracing::error!(%error, seq = message.seq, "an unreadable claims delivery was dropped");
                return Ok(false);
            }
        };
        if !save(conn, &change, message.version)? {
            return Ok(false);
        }
        let now = now_ms();
        // The active sessions concerned, by (user, active organization).
        let pairs: Vec<(String, Option<String>)> = {
            let active = sessions::table
                .filter(sessions::status.eq(status::ACTIVE))
                .select((sessions::user_id, sessions::last_active_organization_id))
                .distinct();
            if let Some(user_id) = change.scope.strip_prefix("user:") {
                active.filter(sessions::user_id.eq(user_id)).load(conn)?
            } else if let Some(org_id) = change.scope.strip_prefix("org:") {
                active
                    .filter(sessions::last_active_organization_id.eq(org_id))
                    .load(conn)?
            } else {
                Vec::new()
            }
        };
        for (user_id, org_id) in pairs {
            let Some(snapshot) = compose(conn, &user_id, org_id.as_deref())? else {
                continue;
            };
            let target = sessions::table
                .filter(sessions::user_id.eq(&user_id))
                .filter(sessions::status.eq(status::ACTIVE));
            let text = snapshot.to_string();
            let set = (
                sessions::claims_snapshot.eq(&text),
                sessions::updated_at.eq(now),
            );
            match &org_id {
                Some(org_id) => {
                    diesel::update(target.filter(sessions::last_active_organization_id.eq(org_id)))
                        .set(set)
                        .execute(conn)?
                }
                None => {
                    diesel::update(target.filter(sessions::last_active_organization_id.is_null()))
                        .set(set)
                        .execute(conn)?
                }
            };
        }
        Ok(true)
    }

    fn applied(&self, state: &AppState, message: &Message) {
        // Tokens this process signed before the change must not be reused;
        // the session rows' `updated_at` moved for other processes.
        if let Ok(change) = serde_json::from_str::<ScopeClaims>(&message.payload) {
            match change.scope.strip_prefix("user:") {
                Some(user_id) => state.tokens.forget_user(user_id),
                None => state.tokens.forget_all(),
            }
        }
    }
}

/// Stores `change` as `version` unless the copy has this version or a
/// newer one (`Ok(false)` then), as the organization claims do.
fn save(conn: &mut DbConnection, change: &ScopeClaims, version: i64) -> QueryResult<bool> {
    let text = change.claims.as_ref().map(Value::to_string);
    let now = now_ms();
    let inserted = on_backend!(conn, c => diesel::insert_into(scoped::table)
        .values((
            scoped::scope.eq(&change.scope),
            scoped::contributor.eq(&change.contributor),
            scoped::claims.eq(&text),
            scoped::version.eq(version),
            scoped::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted > 0 {
        return Ok(true);
    }
    let updated = diesel::update(
        scoped::table
            .find((&change.scope, &change.contributor))
            .filter(scoped::version.lt(version)),
    )
    .set((
        scoped::claims.eq(&text),
        scoped::version.eq(version),
        scoped::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// Every contributor's claims for `scope`, in contributor order.
fn scope_parts(conn: &mut DbConnection, scope: &str) -> QueryResult<Vec<Map<String, Value>>> {
    let rows: Vec<Option<String>> = scoped::table
        .filter(scoped::scope.eq(scope))
        .filter(scoped::claims.is_not_null())
        .order(scoped::contributor)
        .select(scoped::claims)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |text| match text.and_then(|t| serde_json::from_str(&t).ok()) {
                Some(Value::Object(part)) => Some(part),
                _ => None,
            },
        )
        .collect())
}

/// Adds `part` to `snapshot`: list claims are appended to (keeping the
/// membership's `fea` entries first, which the `fpm` masks index), others
/// replaced.
fn merge_into(snapshot: &mut Map<String, Value>, part: Map<String, Value>) {
    for (key, value) in part {
        let appended = match (snapshot.get(&key), &value) {
            (Some(Value::String(old)), Value::String(new))
                if LIST_CLAIMS.contains(&key.as_str()) =>
            {
                Some(match (old.is_empty(), new.is_empty()) {
                    (true, _) => new.clone(),
                    (_, true) => old.clone(),
                    _ => format!("{old},{new}"),
                })
            }
            _ => None,
        };
        snapshot.insert(key, appended.map_or(value, Value::String));
    }
}

/// The claims snapshot of a session of `user_id` acting in `org_id` (or in
/// their personal workspace): the membership's claims, then the
/// organization's, then the user's. `None` when `org_id` is given and the
/// user is not its member.
pub fn compose(
    conn: &mut DbConnection,
    user_id: &str,
    org_id: Option<&str>,
) -> QueryResult<Option<Value>> {
    let mut snapshot = Map::new();
    if let Some(org_id) = org_id {
        let Some(Value::Object(membership)) = membership_claims(conn, user_id, org_id)? else {
            return Ok(None);
        };
        merge_into(&mut snapshot, membership);
        for part in scope_parts(conn, &ScopeClaims::org(org_id))? {
            merge_into(&mut snapshot, part);
        }
    }
    for part in scope_parts(conn, &ScopeClaims::user(user_id))? {
        merge_into(&mut snapshot, part);
    }
    Ok(Some(Value::Object(snapshot)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_claims_are_appended_in_order() {
        let mut snapshot = Map::new();
        let part = |v: Value| v.as_object().unwrap().clone();
        merge_into(
            &mut snapshot,
            part(json!({"fea": "o:reports", "o": {"id": "org_1"}})),
        );
        merge_into(
            &mut snapshot,
            part(json!({"pla": "o:team", "fea": "o:exports"})),
        );
        merge_into(&mut snapshot, part(json!({"pla": "u:pro", "fea": ""})));
        assert_eq!(
            Value::Object(snapshot),
            json!({"fea": "o:reports,o:exports", "pla": "o:team,u:pro", "o": {"id": "org_1"}})
        );
    }
}
