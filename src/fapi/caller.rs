//! Request guards for Frontend API handlers: who is asking, resolved before
//! the handler runs, so that a handler's arguments say what it requires.
//! A handler that takes [`SignedIn`] answers 401 `signed_out` without a
//! current session, the same way on every route; one that takes
//! [`OrgMember<P>`] also answers 404 to a non-member of the organization in
//! the path's `{id}` and 403 `not_authorized` to a member whose role lacks
//! the permission `P` names.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::http::fapi::FapiCaller;
use crate::http::ApiError;
use crate::ids::{ClientId, OrgIdOrSlug, SessionId, UserId};
use crate::modules::orgs::service::{self as orgs, MembershipRow};
use crate::modules::session::service as sessions;
use crate::state::AppState;

/// The caller's current session (`_clerk_session_id`, else the client's
/// last active one) and whose it is.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The request's caller, for the envelope and the client token.
    pub caller: FapiCaller,
    pub client_id: ClientId,
    pub session_id: SessionId,
    pub user_id: UserId,
}

impl SignedIn {
    async fn resolve(state: &AppState, caller: FapiCaller) -> Result<Self, ApiError> {
        let session = sessions::current_session(
            state,
            caller.client_id.clone().map(ClientId::from),
            caller.session_id.clone().map(SessionId::from),
        )
        .await?;
        Ok(Self {
            caller,
            client_id: ClientId::from(session.client_id),
            session_id: SessionId::from(session.id),
            user_id: UserId::from(session.user_id),
        })
    }
}

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = FapiCaller::from_request(req, payload).into_inner();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            Self::resolve(&state, caller?).await
        })
    }
}

/// A permission an organization role grants, named by a marker type so
/// that a handler's signature says which one it requires.
pub trait OrgPermission {
    /// The permission key, or `None` when membership alone is enough.
    const KEY: Option<&'static str>;
}

/// Any member, whatever their role.
pub struct AnyRole;
/// `org:sys_profile:manage`: rename the organization, change its slug.
pub struct ManageProfile;
/// `org:sys_profile:delete`: delete the organization.
pub struct DeleteOrganization;
/// `org:sys_memberships:read`: list members and invitations.
pub struct ReadMembers;
/// `org:sys_memberships:manage`: add, change and remove members; invite.
pub struct ManageMembers;

impl OrgPermission for AnyRole {
    const KEY: Option<&'static str> = None;
}
impl OrgPermission for ManageProfile {
    const KEY: Option<&'static str> = Some("org:sys_profile:manage");
}
impl OrgPermission for DeleteOrganization {
    const KEY: Option<&'static str> = Some("org:sys_profile:delete");
}
impl OrgPermission for ReadMembers {
    const KEY: Option<&'static str> = Some("org:sys_memberships:read");
}
impl OrgPermission for ManageMembers {
    const KEY: Option<&'static str> = Some(orgs::MANAGE_MEMBERS);
}

/// The signed-in caller as a member of the organization in the path's
/// `{id}` (an id or a slug), holding permission `P`.
#[derive(Debug)]
pub struct OrgMember<P> {
    pub me: SignedIn,
    /// The caller's membership; its `organization_id` is the organization's
    /// id even when the path named it by slug.
    pub membership: MembershipRow,
    permission: PhantomData<P>,
}

impl<P: OrgPermission + 'static> FromRequest for OrgMember<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let me = SignedIn::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let org = req
            .match_info()
            .get("id")
            .map(|id| OrgIdOrSlug::from(id.to_owned()));
        Box::pin(async move {
            let me = me.await?;
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let org = org.ok_or_else(|| ApiError::not_found("organization"))?;
            let membership =
                orgs::member_with_permission(&state, org, me.user_id.clone(), P::KEY).await?;
            Ok(Self {
                me,
                membership,
                permission: PhantomData,
            })
        })
    }
}
