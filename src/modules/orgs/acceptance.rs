//! Accepting organization invitations: by a signed-in user holding the
//! invited address, or by a new user signing up with the invitation's
//! ticket (the sign-up module asks [`check_acceptable`] before it creates
//! the user, then [`accept_for_new_user`]).

use diesel::prelude::*;

use super::invitations::{find, object, settle, InvitationObject, InvitationRow};
use super::push::deliver_soon;
use super::service::{ensure_room, insert_member, load_org, lock_org, new_membership, pool};
use super::store;
use crate::crypto::secret_keys::digest;
use crate::db::schema::organization_invitations as invitations;
use crate::db::{write_transaction, DbConnection};
use crate::http::{ApiError, ErrorCode};
use crate::ids::{InvitationId, UserId};
use crate::state::AppState;
use crate::time::now_ms;

fn invalid_invitation() -> ApiError {
    ApiError::new(
        ErrorCode::TicketInvalid,
        "Invalid invitation",
        "This invitation is invalid, expired, revoked or already used.",
    )
}

/// Joins `user_id` to the invitation's organization with its role and
/// marks it accepted, in one transaction. The organization is locked
/// first (the membership limit counts its members; taking the
/// organization before the invitation row is the order every other writer
/// follows, so the two locks cannot deadlock), then the invitation is
/// claimed by a conditional UPDATE, so a concurrent revocation or a second
/// acceptance of the same ticket loses cleanly.
fn accept_in(
    conn: &mut DbConnection,
    mut row: InvitationRow,
    user_id: &str,
) -> Result<InvitationRow, ApiError> {
    let org = lock_org(conn, &row.organization_id)?;
    let now = now_ms();
    if !settle(conn, &row.id, "accepted", now)? {
        return Err(invalid_invitation());
    }
    if store::find_membership(conn, &org.id, user_id)?.is_none() {
        ensure_room(conn, &org)?;
        insert_member(
            conn,
            &new_membership(&org.id, user_id, &row.role, now),
            None,
        )?;
    }
    row.status = "accepted".to_owned();
    row.updated_at = now;
    Ok(row)
}

/// `POST /v1/me/organization_invitations/{id}/accept`: the invitation must
/// be addressed to one of the user's verified email addresses.
pub async fn accept(
    state: &AppState,
    user_id: UserId,
    verified_emails: Vec<String>,
    id: InvitationId,
) -> Result<InvitationObject, ApiError> {
    let accepted = pool(state)
        .run("orgs.accept_invitation", move |conn| {
            write_transaction(conn, |conn| {
                let row = find(conn, None, id.as_str())?;
                if !verified_emails.contains(&row.email_address) {
                    return Err(ApiError::not_found("organization invitation"));
                }
                let row = accept_in(conn, row, user_id.as_str())?;
                object(conn, row, false)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(accepted)
}

/// The pending invitation behind `ticket`: its id and email address.
pub async fn peek_ticket(
    state: &AppState,
    ticket: String,
) -> Result<(InvitationId, String), ApiError> {
    if ticket.len() > 256 {
        return Err(invalid_invitation());
    }
    let ticket_digest = digest(&ticket);
    pool(state)
        .run("orgs.peek_invitation", move |conn| {
            let row: InvitationRow = invitations::table
                .filter(invitations::ticket_digest.eq(&ticket_digest))
                .select(InvitationRow::as_select())
                .first(conn)
                .optional()?
                .filter(|r| r.effective_status(now_ms()) == "pending")
                .ok_or_else(invalid_invitation)?;
            Ok((InvitationId::from(row.id), row.email_address))
        })
        .await
}

/// Whether a new user could accept invitation `id` now: it is pending and
/// unexpired, and its organization has a free seat. A ticket sign-up asks
/// before it creates the user, so these refusals leave nothing behind;
/// [`accept_for_new_user`] still decides for real, under the
/// organization's lock, because a seat can go between the two.
pub async fn check_acceptable(state: &AppState, id: InvitationId) -> Result<(), ApiError> {
    pool(state)
        .run("orgs.check_invitation", move |conn| {
            let row = find(conn, None, id.as_str())?;
            if row.effective_status(now_ms()) != "pending" {
                return Err(invalid_invitation());
            }
            let org = load_org(conn, &row.organization_id)?;
            ensure_room(conn, &org)
        })
        .await
}

/// Accepts invitation `id` for a user who just signed up with its ticket.
pub async fn accept_for_new_user(
    state: &AppState,
    id: InvitationId,
    user_id: UserId,
) -> Result<(), ApiError> {
    pool(state)
        .run("orgs.accept_for_new_user", move |conn| {
            write_transaction(conn, |conn| {
                let row = find(conn, None, id.as_str())?;
                // A retry whose first attempt committed before its
                // connection was lost finds its own work done.
                if row.status == "accepted"
                    && store::find_membership(conn, &row.organization_id, user_id.as_str())?
                        .is_some()
                {
                    return Ok(());
                }
                accept_in(conn, row, user_id.as_str()).map(drop)
            })
        })
        .await?;
    deliver_soon(state).await;
    Ok(())
}
