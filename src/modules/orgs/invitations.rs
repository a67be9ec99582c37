//! Organization invitations: created by an admin (Backend or Frontend API),
//! emailed with a single-use ticket link, and accepted by a signed-in user
//! holding the invited address or by a new user signing up with the ticket.
//! Revoked, expired and used invitations are refused.

use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::acceptance::{accept, accept_for_new_user, check_acceptable, peek_ticket};
use super::claims;
use super::list::Sort;
use super::service::{ensure_role_exists, load_org, lock_org, pool};
use crate::crypto::ids::new_id;
use crate::crypto::secret_keys::digest;
use crate::db::schema::organization_invitations as invitations;
use crate::db::{write_transaction, DbConnection, MultiBackend};
use crate::http::{ApiError, ErrorCode, Pagination};
use crate::ids::{InvitationId, OrgIdOrSlug};
use crate::metadata;
use crate::state::AppState;
use crate::time::now_ms;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Default lifetime of an invitation, in days.
const DEFAULT_EXPIRES_IN_DAYS: i64 = 30;
/// Invitations one bulk request may create.
const MAX_BULK: usize = 100;

/// An `organization_invitations` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = invitations, treat_none_as_null = true)]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub email_address: String,
    pub role: String,
    pub status: String,
    pub inviter_user_id: Option<String>,
    pub public_metadata: String,
    pub private_metadata: String,
    pub ticket_digest: String,
    pub url: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl InvitationRow {
    /// The status at `now`: a pending invitation past its time is expired.
    pub(super) fn effective_status(&self, now: i64) -> &str {
        if self.status == "pending" && now >= self.expires_at {
            "expired"
        } else {
            &self.status
        }
    }
}

/// Clerk's `organization_invitation` object.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationObject {
    pub object: &'static str,
    pub id: String,
    pub email_address: String,
    pub role: String,
    pub role_name: String,
    pub organization_id: String,
    pub inviter_id: Option<String>,
    pub public_inviter_data: Option<Value>,
    pub status: String,
    pub public_metadata: Value,
    /// Backend API only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    pub url: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(super) fn object(
    conn: &mut DbConnection,
    row: InvitationRow,
    backend: bool,
) -> Result<InvitationObject, ApiError> {
    let (role_name, _) = claims::role_details(conn, &row.role)?;
    Ok(InvitationObject {
        object: "organization_invitation",
        status: row.effective_status(now_ms()).to_owned(),
        id: row.id,
        email_address: row.email_address,
        role: row.role,
        role_name,
        organization_id: row.organization_id,
        inviter_id: row.inviter_user_id,
        public_inviter_data: None,
        public_metadata: metadata::parse_metadata(&row.public_metadata),
        private_metadata: backend.then(|| metadata::parse_metadata(&row.private_metadata)),
        url: row.url,
        expires_at: Some(row.expires_at),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// `POST …/invitations` parameters (also one item of a bulk request).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CreateInvitation {
    pub email_address: Option<String>,
    pub role: Option<String>,
    pub inviter_user_id: Option<String>,
    pub public_metadata: Option<Value>,
    pub private_metadata: Option<Value>,
    pub redirect_url: Option<String>,
    pub expires_in_days: Option<i64>,
    pub notify: Option<bool>,
}

/// A checked invitation, ready to insert; its URL carries the ticket.
struct NewInvitation {
    row: InvitationRow,
    notify: bool,
}

fn prepare(
    state: &AppState,
    org_id: &str,
    input: CreateInvitation,
) -> Result<NewInvitation, ApiError> {
    let email = crate::modules::users::service::normalize_email(
        input.email_address.as_deref().unwrap_or_default(),
    )?;
    let role = input
        .role
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::param_missing("role"))?;
    let days = input.expires_in_days.unwrap_or(DEFAULT_EXPIRES_IN_DAYS);
    if !(1..=365).contains(&days) {
        return Err(ApiError::param_value(
            "expires_in_days",
            "expires_in_days must be between 1 and 365.",
        ));
    }
    let base = match input.redirect_url.filter(|u| !u.is_empty()) {
        Some(url) => {
            let parsed = url::Url::parse(&url).map_err(|_| {
                ApiError::param_format("redirect_url", "redirect_url must be an absolute URL.")
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ApiError::param_format(
                    "redirect_url",
                    "redirect_url must be an http(s) URL.",
                ));
            }
            parsed
        }
        None => url::Url::parse(&state.public_url).map_err(ApiError::internal)?,
    };
    let ticket = Alphanumeric.sample_string(&mut rand::rng(), 40);
    let mut link = base;
    link.query_pairs_mut()
        .append_pair("__clerk_ticket", &ticket)
        .append_pair("__clerk_status", "sign_up");
    let now = now_ms();
    Ok(NewInvitation {
        row: InvitationRow {
            id: new_id("orginv"),
            organization_id: org_id.to_owned(),
            email_address: email,
            role,
            status: "pending".to_owned(),
            inviter_user_id: input.inviter_user_id.filter(|u| !u.is_empty()),
            public_metadata: metadata::metadata_text("public_metadata", input.public_metadata)?,
            private_metadata: metadata::metadata_text("private_metadata", input.private_metadata)?,
            ticket_digest: digest(&ticket),
            url: Some(link.to_string()),
            expires_at: now + days * DAY_MS,
            created_at: now,
            updated_at: now,
        },
        notify: input.notify.unwrap_or(true),
    })
}

fn pending_for(conn: &mut DbConnection, org_id: &str, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        invitations::table
            .filter(invitations::organization_id.eq(org_id))
            .filter(invitations::email_address.eq(email))
            .filter(invitations::status.eq("pending"))
            .filter(invitations::expires_at.gt(now_ms())),
    ))
    .get_result(conn)
}

/// Creates invitations (one, or a bulk request) in one transaction, then
/// emails those asked to be notified. The organization stays locked from
/// the check for a pending invitation to the insert, so concurrent
/// requests for one address make one invitation.
pub async fn create(
    state: &AppState,
    org_id: OrgIdOrSlug,
    inputs: Vec<CreateInvitation>,
    backend: bool,
) -> Result<Vec<InvitationObject>, ApiError> {
    if inputs.is_empty() || inputs.len() > MAX_BULK {
        return Err(ApiError::param_value(
            "invitations",
            format!("Give between 1 and {MAX_BULK} invitations."),
        ));
    }
    let prepared = inputs
        .into_iter()
        .map(|input| prepare(state, org_id.as_str(), input))
        .collect::<Result<Vec<_>, _>>()?;
    let rows: Vec<InvitationRow> = prepared.iter().map(|p| p.row.clone()).collect();
    let (org_name, objects) = pool(state)
        .run("orgs.create_invitations", move |conn| {
            let rows = rows.clone();
            write_transaction(conn, |conn| {
                let org = lock_org(conn, org_id.as_str())?;
                let mut objects = Vec::new();
                for mut row in rows {
                    ensure_role_exists(conn, &row.role)?;
                    if pending_for(conn, &org.id, &row.email_address)? {
                        return Err(ApiError::new(
                            ErrorCode::FormIdentifierExists,
                            "Already invited",
                            format!("{} already has a pending invitation.", row.email_address),
                        )
                        .with_param("email_address"));
                    }
                    row.organization_id = org.id.clone();
                    diesel::insert_into(invitations::table)
                        .values(&row)
                        .execute(conn)?;
                    objects.push(object(conn, row, backend)?);
                }
                Ok((org.name, objects))
            })
        })
        .await?;
    for invitation in prepared.iter().filter(|p| p.notify) {
        if let Some(url) = &invitation.row.url {
            let days = (invitation.row.expires_at - invitation.row.created_at) / DAY_MS;
            if let Err(error) = state
                .mailer
                .send_invitation(&invitation.row.email_address, &org_name, url, days)
                .await
            {
                tracing::warn!(%error, invitation = %invitation.row.id, "invitation email not sent");
            }
        }
    }
    Ok(objects)
}

/// Which invitations a list shows, and in what order.
#[derive(Debug, Default, Clone)]
pub struct InvitationFilter {
    pub organization_id: Option<String>,
    pub email_addresses: Vec<String>,
    /// Part of the address (lower-cased).
    pub email_address_query: Option<String>,
    pub status: Option<String>,
    /// `created_at` or `email_address`; newest first without one.
    pub sort: Option<Sort>,
}

fn filtered(filter: &InvitationFilter, now: i64) -> invitations::BoxedQuery<'_, MultiBackend> {
    let mut query = invitations::table.into_boxed();
    if let Some(org_id) = &filter.organization_id {
        query = query.filter(invitations::organization_id.eq(org_id));
    }
    if !filter.email_addresses.is_empty() {
        query = query.filter(invitations::email_address.eq_any(&filter.email_addresses));
    }
    if let Some(text) = &filter.email_address_query {
        query = query.filter(
            invitations::email_address
                .like(crate::db::contains_pattern(text))
                .escape('\\'),
        );
    }
    match filter.status.as_deref() {
        None => {}
        Some("pending") => {
            query = query
                .filter(invitations::status.eq("pending"))
                .filter(invitations::expires_at.gt(now))
        }
        Some("expired") => {
            query = query
                .filter(invitations::status.eq("pending"))
                .filter(invitations::expires_at.le(now))
        }
        Some(other) => query = query.filter(invitations::status.eq(other.to_owned())),
    }
    query
}

/// Statuses the lists accept.
pub const STATUSES: [&str; 4] = ["pending", "accepted", "revoked", "expired"];

/// A page of invitations and the total.
pub async fn list(
    state: &AppState,
    filter: InvitationFilter,
    page: Pagination,
    backend: bool,
) -> Result<(Vec<InvitationObject>, i64), ApiError> {
    if filter
        .status
        .as_deref()
        .is_some_and(|s| !STATUSES.contains(&s))
    {
        return Err(ApiError::param_value(
            "status",
            format!("status must be one of {}.", STATUSES.join(", ")),
        ));
    }
    pool(state)
        .run("orgs.list_invitations", move |conn| {
            if let Some(org_id) = &filter.organization_id {
                load_org(conn, org_id)?;
            }
            let now = now_ms();
            let query = filtered(&filter, now).select(InvitationRow::as_select());
            let sort = filter.sort.unwrap_or(Sort {
                field: "created_at",
                descending: true,
            });
            let query = match (sort.field, sort.descending) {
                ("email_address", false) => {
                    query.order((invitations::email_address.asc(), invitations::id.asc()))
                }
                ("email_address", true) => {
                    query.order((invitations::email_address.desc(), invitations::id.desc()))
                }
                (_, false) => query.order((invitations::created_at.asc(), invitations::id.asc())),
                (_, true) => query.order((invitations::created_at.desc(), invitations::id.desc())),
            };
            let rows: Vec<InvitationRow> =
                query.limit(page.limit).offset(page.offset).load(conn)?;
            let total: i64 = filtered(&filter, now).count().get_result(conn)?;
            let objects = rows
                .into_iter()
                .map(|r| object(conn, r, backend))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((objects, total))
        })
        .await
}

pub(super) fn find(
    conn: &mut DbConnection,
    org_id: Option<&str>,
    id: &str,
) -> Result<InvitationRow, ApiError> {
    let row: Option<InvitationRow> = invitations::table
        .find(id)
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?;
    row.filter(|r| org_id.is_none_or(|o| o == r.organization_id))
        .ok_or_else(|| ApiError::not_found("organization invitation"))
}

/// One invitation of organization `org_id`.
pub async fn get(
    state: &AppState,
    org_id: OrgIdOrSlug,
    id: InvitationId,
    backend: bool,
) -> Result<InvitationObject, ApiError> {
    pool(state)
        .run("orgs.get_invitation", move |conn| {
            let org = load_org(conn, org_id.as_str())?;
            let row = find(conn, Some(&org.id), id.as_str())?;
            object(conn, row, backend)
        })
        .await
}

/// Marks invitation `id` as `status` if it is still pending and unexpired,
/// in one conditional UPDATE; whether it was. Acceptance and revocation
/// both go through it, so of the two racing for one invitation exactly
/// one wins: on PostgreSQL the second UPDATE waits for the first one's row
/// lock and then finds the status changed.
pub(super) fn settle(
    conn: &mut DbConnection,
    id: &str,
    status: &str,
    now: i64,
) -> QueryResult<bool> {
    diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::status.eq("pending"))
            .filter(invitations::expires_at.gt(now)),
    )
    .set((
        invitations::status.eq(status),
        invitations::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|updated| updated == 1)
}

/// Revokes a pending invitation.
pub async fn revoke(
    state: &AppState,
    org_id: OrgIdOrSlug,
    id: InvitationId,
    backend: bool,
) -> Result<InvitationObject, ApiError> {
    pool(state)
        .run("orgs.revoke_invitation", move |conn| {
            write_transaction(conn, |conn| {
                let org = load_org(conn, org_id.as_str())?;
                let mut row = find(conn, Some(&org.id), id.as_str())?;
                let now = now_ms();
                if !settle(conn, &row.id, "revoked", now)? {
                    let current = find(conn, Some(&org.id), id.as_str())?;
                    return Err(ApiError::param_value(
                        "invitation_id",
                        format!("This invitation is {}.", current.effective_status(now)),
                    ));
                }
                row.status = "revoked".to_owned();
                row.updated_at = now;
                object(conn, row, backend)
            })
        })
        .await
}
