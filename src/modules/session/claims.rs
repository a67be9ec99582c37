//! The session area's copy of organization claims: what each contributing
//! area (organizations now; billing's plan and features next) puts in the
//! token of a user acting in an organization. Contributors push it through
//! the outbox ([`crate::outbox`]); switching the active organization and
//! minting tokens read only this copy, so they keep working while the
//! contributors' databases are down.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::service::pool;
use super::store;
use crate::db::schema::session_org_claims as claims;
use crate::db::{on_backend, DbConnection, DbPool};
use crate::http::ApiError;
use crate::outbox::{Message, Receiver};
use crate::state::AppState;
use crate::time::now_ms;

/// The outbox topic of [`OrganizationClaims`].
pub const ORGANIZATION_CLAIMS_TOPIC: &str = "session.organization_claims";
/// The contributor whose claims make a user a member: without its row, the
/// organization cannot be made active and sessions in it fall back to the
/// personal workspace.
pub const MEMBERSHIP_CONTRIBUTOR: &str = "orgs";

/// One contributor's claims for a user acting in an organization, as it
/// stands after the change that wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationClaims {
    pub user_id: String,
    pub organization_id: String,
    /// For making the organization active by slug.
    pub organization_slug: Option<String>,
    pub contributor: String,
    /// `None`: the contributor has nothing for the pair (for
    /// [`MEMBERSHIP_CONTRIBUTOR`]: the user is not a member).
    pub claims: Option<Value>,
}

impl OrganizationClaims {
    /// The outbox entity: one version sequence per (user, organization,
    /// contributor).
    pub fn entity(user_id: &str, organization_id: &str, contributor: &str) -> String {
        format!("{contributor}/{organization_id}/{user_id}")
    }
}

/// Applies [`OrganizationClaims`] deliveries to `session_org_claims` and to
/// the snapshot of the user's sessions whose active organization it is.
#[derive(Debug)]
pub struct OrganizationClaimsReceiver;

/// The receiver the dispatcher of each contributing area delivers to.
pub static ORGANIZATION_CLAIMS: OrganizationClaimsReceiver = OrganizationClaimsReceiver;

impl Receiver for OrganizationClaimsReceiver {
    fn topics(&self) -> &'static [&'static str] {
        &[ORGANIZATION_CLAIMS_TOPIC]
    }

    fn database(&self, state: &AppState) -> DbPool {
        pool(state)
    }

    fn apply(&self, conn: &mut DbConnection, message: &Message) -> Result<bool, ApiError> {
        let change: OrganizationClaims = match serde_json::from_str(&message.payload) {
            Ok(change) => change,
            Err(error) => {
                tracing::error!(%error, seq = message.seq, "an unreadable claims delivery was dropped");
                return Ok(false);
            }
        };
        if !save(conn, &change, message.version)? {
            return Ok(false);
        }
        let snapshot =
            super::scope_claims::compose(conn, &change.user_id, Some(&change.organization_id))?;
        store::set_organization_claims(
            conn,
            &change.user_id,
            &change.organization_id,
            snapshot.map(|s| s.to_string()),
            now_ms(),
        )?;
        Ok(true)
    }

    fn applied(&self, state: &AppState, message: &Message) {
        // Tokens this process signed before the change must not be reused;
        // the session rows' `updated_at` moved for other processes.
        if let Ok(change) = serde_json::from_str::<OrganizationClaims>(&message.payload) {
            state.tokens.forget_user(&change.user_id);
        }
    }
}

/// Stores `change` as `version` unless the copy has this version or a
/// newer one; `Ok(false)` then. The first delivery inserts (a concurrent
/// first insert of the same key waits for the other transaction, then does
/// nothing); later ones update only an older version, so deliveries racing
/// cannot put an older version over a newer one.
fn save(conn: &mut DbConnection, change: &OrganizationClaims, version: i64) -> QueryResult<bool> {
    let key = (
        change.user_id.as_str(),
        change.organization_id.as_str(),
        change.contributor.as_str(),
    );
    let text = change.claims.as_ref().map(Value::to_string);
    let now = now_ms();
    let inserted = on_backend!(conn, c => diesel::insert_into(claims::table)
        .values((
            claims::user_id.eq(key.0),
            claims::organization_id.eq(key.1),
            claims::contributor.eq(key.2),
            claims::organization_slug.eq(&change.organization_slug),
            claims::claims.eq(&text),
            claims::version.eq(version),
            claims::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted > 0 {
        return Ok(true);
    }
    let updated = diesel::update(claims::table.find(key).filter(claims::version.lt(version)))
        .set((
            claims::organization_slug.eq(&change.organization_slug),
            claims::claims.eq(&text),
            claims::version.eq(version),
            claims::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}

/// Every contributor's claims for the pair, merged in contributor order;
/// `None` unless the user is a member (see [`MEMBERSHIP_CONTRIBUTOR`]).
pub(super) fn membership_claims(
    conn: &mut DbConnection,
    user_id: &str,
    org_id: &str,
) -> QueryResult<Option<Value>> {
    let rows: Vec<(String, Option<String>)> = claims::table
        .filter(claims::user_id.eq(user_id))
        .filter(claims::organization_id.eq(org_id))
        .filter(claims::claims.is_not_null())
        .order(claims::contributor)
        .select((claims::contributor, claims::claims))
        .load(conn)?;
    if !rows.iter().any(|(c, _)| c == MEMBERSHIP_CONTRIBUTOR) {
        return Ok(None);
    }
    let mut snapshot = Map::new();
    for (_, text) in rows {
        if let Some(Value::Object(part)) = text.and_then(|t| serde_json::from_str(&t).ok()) {
            snapshot.extend(part);
        }
    }
    Ok(Some(Value::Object(snapshot)))
}

/// The organization `id_or_slug` and the claims snapshot for `user_id`
/// acting in it; `None` unless the user is a member.
pub fn organization_claims(
    conn: &mut DbConnection,
    user_id: &str,
    id_or_slug: &str,
) -> QueryResult<Option<(String, Value)>> {
    let org_id: Option<String> = claims::table
        .filter(claims::user_id.eq(user_id))
        .filter(claims::contributor.eq(MEMBERSHIP_CONTRIBUTOR))
        .filter(claims::claims.is_not_null())
        .filter(
            claims::organization_id
                .eq(id_or_slug)
                .or(claims::organization_slug.eq(id_or_slug)),
        )
        .select(claims::organization_id)
        .first(conn)
        .optional()?;
    let Some(org_id) = org_id else {
        return Ok(None);
    };
    Ok(super::scope_claims::compose(conn, user_id, Some(&org_id))?
        .map(|snapshot| (org_id, snapshot)))
}

/// The claims snapshot for making `org_id` (an id) active, read in the
/// transaction that makes it so (`"{}"` for the personal workspace). On
/// PostgreSQL the pair's membership row is locked until that transaction
/// ends: a delivery for the pair either committed before (and is read
/// here) or waits, then finds the session in the organization and updates
/// its snapshot; neither leaves a stale snapshot behind. 404 unless the
/// user is a member.
pub fn snapshot_for_switch(
    conn: &mut DbConnection,
    user_id: &str,
    org_id: Option<&str>,
) -> Result<String, ApiError> {
    let Some(org_id) = org_id else {
        return Ok(super::scope_claims::compose(conn, user_id, None)?
            .unwrap_or_default()
            .to_string());
    };
    if let DbConnection::Pg(pg) = conn {
        claims::table
            .find((user_id, org_id, MEMBERSHIP_CONTRIBUTOR))
            .select(claims::version)
            .for_share()
            .load::<i64>(pg)?;
    }
    organization_claims(conn, user_id, org_id)?
        .map(|(_, snapshot)| snapshot.to_string())
        .ok_or_else(|| ApiError::not_found("organization").with_param("organization_id"))
}
