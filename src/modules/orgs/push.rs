//! What the orgs area pushes to the session area: the claims of each
//! (user, organization) whose membership, role, role permissions or
//! organization changed. The rows are written in the change's own
//! transaction ([`claims_changed`] and the helpers below, through
//! [`crate::outbox`]); the session area applies them to its own copy, so
//! switching the active organization and minting tokens never read the
//! orgs database.

use diesel::prelude::*;

use super::claims;
use super::service::pool;
use super::store;
use crate::db::schema::organization_memberships as memberships;
use crate::db::DbConnection;
use crate::http::ApiError;
use crate::modules::session::service::{
    OrganizationClaims, MEMBERSHIP_CONTRIBUTOR, ORGANIZATION_CLAIMS, ORGANIZATION_CLAIMS_TOPIC,
};
use crate::outbox::{self, Backfill};
use crate::state::AppState;

/// Writes, in the caller's transaction, the claims of each `(user_id,
/// org_id)` pair as they stand after the transaction's changes (none for a
/// pair that is no longer a membership).
pub(super) fn claims_changed(
    conn: &mut DbConnection,
    mut pairs: Vec<(String, String)>,
) -> Result<(), ApiError> {
    // A stable order, so that two transactions cannot wait on each other's
    // version counters (see `outbox::enqueue`).
    pairs.sort();
    pairs.dedup();
    for (user_id, org_id) in pairs {
        let entity = OrganizationClaims::entity(&user_id, &org_id, MEMBERSHIP_CONTRIBUTOR);
        outbox::enqueue(conn, ORGANIZATION_CLAIMS_TOPIC, &entity, |conn| {
            current(conn, user_id, org_id)
        })?;
    }
    Ok(())
}

fn current(
    conn: &mut DbConnection,
    user_id: String,
    org_id: String,
) -> Result<OrganizationClaims, ApiError> {
    let org = store::find_org(conn, &org_id)?.filter(|org| org.id == org_id);
    let membership = match &org {
        Some(org) => store::find_membership(conn, &org.id, &user_id)?,
        None => None,
    };
    let claims = match (&org, &membership) {
        (Some(org), Some(membership)) => Some(claims::snapshot(conn, org, membership)?),
        _ => None,
    };
    Ok(OrganizationClaims {
        user_id,
        organization_id: org_id,
        organization_slug: org.map(|org| org.slug),
        contributor: MEMBERSHIP_CONTRIBUTOR.to_owned(),
        claims,
    })
}

/// [`claims_changed`] for every member of `org_id`; call it before
/// deleting the organization's memberships, or after changing it.
pub(super) fn members_changed(conn: &mut DbConnection, org_id: &str) -> Result<(), ApiError> {
    let members: Vec<String> = memberships::table
        .filter(memberships::organization_id.eq(org_id))
        .select(memberships::user_id)
        .load(conn)?;
    claims_changed(
        conn,
        members
            .into_iter()
            .map(|user_id| (user_id, org_id.to_owned()))
            .collect(),
    )
}

/// [`claims_changed`] for every member holding one of `role_keys`.
pub(super) fn role_holders_changed(
    conn: &mut DbConnection,
    role_keys: &[String],
) -> Result<(), ApiError> {
    let holders = store::memberships_with_roles(conn, role_keys)?;
    claims_changed(
        conn,
        holders
            .into_iter()
            .map(|m| (m.user_id, m.organization_id))
            .collect(),
    )
}

/// Delivers what is waiting right after a change committed, so that the
/// caller's next request (making a new organization active, a token after
/// a role change) sees it. Bounded by `database.primary_timeout` and never
/// an error: what it cannot deliver now, the outbox dispatcher delivers
/// when the session database answers.
pub(super) async fn deliver_soon(state: &AppState) {
    let deadline = state.settings.database.primary_timeout;
    let source = pool(state);
    let delivery = outbox::deliver(state, &source, &ORGANIZATION_CLAIMS);
    match tokio::time::timeout(deadline, delivery).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::debug!(%error, "claims left to the outbox dispatcher");
        }
        Err(_) => tracing::debug!("claims left to the outbox dispatcher (timed out)"),
    }
}

/// Claims for every membership that existed before the outbox did.
pub const BACKFILL: Backfill = Backfill {
    name: "session.organization_claims",
    write: backfill,
};

fn backfill(conn: &mut DbConnection) -> Result<(), ApiError> {
    let pairs: Vec<(String, String)> = memberships::table
        .select((memberships::user_id, memberships::organization_id))
        .load(conn)?;
    claims_changed(conn, pairs)
}
