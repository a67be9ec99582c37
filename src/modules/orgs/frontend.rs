//! Frontend API handlers: a signed-in user's organizations. Every request
//! is checked against the caller's membership and role permissions before
//! the handler runs ([`OrgMember`] names the permission in the handler's
//! signature): a non-member gets 404, a member without the permission 403.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::invitations::{self, CreateInvitation, InvitationFilter};
use super::model::{MembershipRow, OrganizationObject};
use super::service::{self, CreateMembership, CreateOrganization, UpdateOrganization};
use super::store::MembershipFilter;
use crate::fapi::{
    envelope, AnyRole, DeleteOrganization, ManageMembers, ManageProfile, OrgMember, ReadMembers,
    SignedIn,
};
use crate::http::fapi::FapiForm;
use crate::http::{ApiError, ClerkQuery, ErrorCode, Pagination};
use crate::ids::{InvitationId, OrgIdOrSlug, OrganizationId, UserId};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations", web::post().to(create))
        .route("/organizations/{id}", web::get().to(get))
        .route("/organizations/{id}", web::patch().to(update))
        .route("/organizations/{id}", web::delete().to(delete))
        .route(
            "/organizations/{id}/memberships",
            web::get().to(list_memberships),
        )
        .route(
            "/organizations/{id}/memberships",
            web::post().to(add_member),
        )
        .route(
            "/organizations/{id}/memberships/{user_id}",
            web::patch().to(change_role),
        )
        .route(
            "/organizations/{id}/memberships/{user_id}",
            web::delete().to(remove_member),
        )
        .route(
            "/me/organization_memberships",
            web::get().to(my_memberships),
        )
        .route("/me/organization_memberships/{id}", web::delete().to(leave))
        .route(
            "/organizations/{id}/invitations",
            web::get().to(list_invitations),
        )
        .route("/organizations/{id}/invitations", web::post().to(invite))
        .route(
            "/organizations/{id}/invitations/{invitation_id}/revoke",
            web::post().to(revoke_invitation),
        )
        .route(
            "/me/organization_invitations",
            web::get().to(my_invitations),
        )
        .route(
            "/me/organization_invitations/{id}/accept",
            web::post().to(accept_invitation),
        );
}

async fn wrap(state: &AppState, me: &SignedIn, response: impl serde::Serialize) -> Reply {
    let value = serde_json::to_value(response).map_err(ApiError::internal)?;
    envelope(state, &me.caller, value, me.client_id.as_str()).await
}

/// The organization of the caller's membership, by its id: the guard found
/// it even when the path named it by slug.
fn org_of(membership: &MembershipRow) -> OrgIdOrSlug {
    OrganizationId::from(membership.organization_id.clone()).into()
}

/// `POST /v1/organizations` body.
#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    name: Option<String>,
    slug: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    me: SignedIn,
    FapiForm(body): FapiForm<CreateBody>,
) -> Reply {
    let allowed =
        crate::modules::users::service::may_create_organization(&state, me.user_id.clone()).await?;
    if !allowed {
        return Err(ApiError::new(
            ErrorCode::ActionNotAllowed,
            "Not allowed to create organizations",
            "This user may not create organizations.",
        ));
    }
    let org = service::create(
        &state,
        CreateOrganization {
            name: body.name,
            slug: body.slug,
            created_by: Some(me.user_id.to_string()),
            ..CreateOrganization::default()
        },
    )
    .await?;
    wrap(&state, &me, OrganizationObject::frontend(&org, Some(1))).await
}

async fn get(state: web::Data<AppState>, member: OrgMember<AnyRole>) -> Reply {
    let (org, count) = service::get(&state, org_of(&member.membership)).await?;
    let me = member.me;
    wrap(&state, &me, OrganizationObject::frontend(&org, Some(count))).await
}

async fn update(
    state: web::Data<AppState>,
    member: OrgMember<ManageProfile>,
    FapiForm(body): FapiForm<CreateBody>,
) -> Reply {
    let me = member.me;
    let org = service::update(
        &state,
        org_of(&member.membership),
        UpdateOrganization {
            name: body.name,
            slug: body.slug,
            ..UpdateOrganization::default()
        },
    )
    .await?;
    wrap(&state, &me, OrganizationObject::frontend(&org, None)).await
}

async fn delete(state: web::Data<AppState>, member: OrgMember<DeleteOrganization>) -> Reply {
    let me = member.me;
    let (org, _) = service::get(&state, org_of(&member.membership)).await?;
    if !org.admin_delete_enabled {
        return Err(ApiError::new(
            ErrorCode::ActionNotAllowed,
            "Deleting this organization is not allowed",
            "Admins cannot delete this organization; ask the instance operator.",
        ));
    }
    let deleted = service::delete(&state, OrganizationId::from(org.id).into()).await?;
    wrap(&state, &me, deleted).await
}

/// List parameters.
#[derive(Debug, Default, Deserialize)]
struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
    #[serde(default)]
    paginated: bool,
}

async fn memberships_reply(
    state: &AppState,
    me: &SignedIn,
    filter: MembershipFilter,
    params: &PageParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (rows, total) = service::list_memberships(state, filter, page).await?;
    let data = service::membership_objects(state, rows, false).await?;
    let response: Value = if params.paginated {
        json!({ "data": data, "total_count": total })
    } else {
        serde_json::to_value(data).map_err(ApiError::internal)?
    };
    wrap(state, me, response).await
}

async fn list_memberships(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ReadMembers>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: Some(membership.organization_id),
        ..MembershipFilter::default()
    };
    memberships_reply(
        &state,
        &me,
        filter,
        &PageParams {
            paginated: true,
            ..params
        },
    )
    .await
}

async fn membership_reply(state: &AppState, me: &SignedIn, row: MembershipRow) -> Reply {
    let object = service::membership_objects(state, vec![row], false)
        .await?
        .pop();
    wrap(state, me, object).await
}

async fn add_member(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ManageMembers>,
    FapiForm(body): FapiForm<CreateMembership>,
) -> Reply {
    let row = service::add_member(
        &state,
        org_of(&membership),
        CreateMembership {
            public_metadata: None,
            private_metadata: None,
            ..body
        },
    )
    .await?;
    membership_reply(&state, &me, row).await
}

/// `PATCH …/memberships/{user_id}` body.
#[derive(Debug, Default, Deserialize)]
struct RoleBody {
    role: Option<String>,
}

async fn change_role(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ManageMembers>,
    path: web::Path<(String, UserId)>,
    FapiForm(body): FapiForm<RoleBody>,
) -> Reply {
    let (_, user_id) = path.into_inner();
    let row = service::change_role(&state, org_of(&membership), user_id, body.role).await?;
    membership_reply(&state, &me, row).await
}

async fn remove_member(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ManageMembers>,
    path: web::Path<(String, UserId)>,
) -> Reply {
    let (_, user_id) = path.into_inner();
    let row = service::remove_member(&state, org_of(&membership), user_id).await?;
    membership_reply(&state, &me, row).await
}

async fn my_memberships(
    state: web::Data<AppState>,
    me: SignedIn,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let filter = MembershipFilter {
        user_ids: vec![me.user_id.to_string()],
        ..MembershipFilter::default()
    };
    memberships_reply(&state, &me, filter, &params).await
}

async fn leave(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<AnyRole>,
) -> Reply {
    let row = service::remove_member(&state, org_of(&membership), me.user_id.clone()).await?;
    membership_reply(&state, &me, row).await
}

/// Invitation list parameters.
#[derive(Debug, Default, Deserialize)]
struct InvitationParams {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn invitations_reply(
    state: &AppState,
    me: &SignedIn,
    filter: InvitationFilter,
    params: &InvitationParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = invitations::list(state, filter, page, false).await?;
    wrap(state, me, json!({ "data": data, "total_count": total })).await
}

async fn list_invitations(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ReadMembers>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        organization_id: Some(membership.organization_id),
        status: params.status.clone(),
        ..InvitationFilter::default()
    };
    invitations_reply(&state, &me, filter, &params).await
}

/// `POST /v1/organizations/{id}/invitations` body.
#[derive(Debug, Default, Deserialize)]
struct InviteBody {
    email_address: Option<String>,
    role: Option<String>,
    redirect_url: Option<String>,
}

async fn invite(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ManageMembers>,
    FapiForm(body): FapiForm<InviteBody>,
) -> Reply {
    let mut created = invitations::create(
        &state,
        org_of(&membership),
        vec![CreateInvitation {
            email_address: body.email_address,
            role: body.role,
            redirect_url: body.redirect_url,
            inviter_user_id: Some(me.user_id.to_string()),
            ..CreateInvitation::default()
        }],
        false,
    )
    .await?;
    wrap(&state, &me, created.pop()).await
}

async fn revoke_invitation(
    state: web::Data<AppState>,
    OrgMember { me, membership, .. }: OrgMember<ManageMembers>,
    path: web::Path<(String, InvitationId)>,
) -> Reply {
    let (_, id) = path.into_inner();
    let revoked = invitations::revoke(&state, org_of(&membership), id, false).await?;
    wrap(&state, &me, revoked).await
}

async fn my_invitations(
    state: web::Data<AppState>,
    me: SignedIn,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let emails =
        crate::modules::users::service::verified_emails(&state, me.user_id.clone()).await?;
    if emails.is_empty() {
        return wrap(&state, &me, json!({ "data": [], "total_count": 0 })).await;
    }
    let filter = InvitationFilter {
        email_addresses: emails,
        status: params.status.clone().or_else(|| Some("pending".to_owned())),
        ..InvitationFilter::default()
    };
    invitations_reply(&state, &me, filter, &params).await
}

async fn accept_invitation(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<InvitationId>,
) -> Reply {
    let emails =
        crate::modules::users::service::verified_emails(&state, me.user_id.clone()).await?;
    let accepted =
        invitations::accept(&state, me.user_id.clone(), emails, path.into_inner()).await?;
    wrap(&state, &me, accepted).await
}
