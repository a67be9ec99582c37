//! Frontend API handlers: a signed-in user's organizations. Every request
//! is checked against the caller's membership and role permissions: a
//! non-member gets 404, a member without the permission 403.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::claims;
use super::invitations::{self, CreateInvitation, InvitationFilter};
use super::model::{MembershipRow, OrganizationObject};
use super::service::{self, CreateMembership, CreateOrganization, UpdateOrganization};
use super::store::MembershipFilter;
use crate::fapi::envelope;
use crate::http::fapi::{FapiCaller, FapiForm};
use crate::http::{ApiError, ClerkQuery, ErrorCode, Pagination};
use crate::modules::session::service as sessions;
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

/// The signed-in caller.
struct Caller {
    client_id: String,
    user_id: String,
}

async fn signed_in(state: &AppState, caller: &FapiCaller) -> Result<Caller, ApiError> {
    let session =
        sessions::current_session(state, caller.client_id.clone(), caller.session_id.clone())
            .await?;
    Ok(Caller {
        client_id: session.client_id,
        user_id: session.user_id,
    })
}

/// The caller's membership in `org_id`, holding `permission` when given.
async fn require(
    state: &AppState,
    me: &Caller,
    org_id: &str,
    permission: Option<&'static str>,
) -> Result<MembershipRow, ApiError> {
    let membership = service::membership(state, org_id.to_owned(), me.user_id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    if let Some(permission) = permission {
        let role = membership.role.clone();
        let allowed = service::pool(state)
            .run("orgs.check_permission", move |conn| {
                claims::role_has_permission(conn, &role, permission)
            })
            .await?;
        if !allowed {
            return Err(ApiError::new(
                ErrorCode::NotAuthorized,
                "Not authorized",
                format!("Your role in this organization does not grant {permission}."),
            ));
        }
    }
    Ok(membership)
}

async fn wrap(
    state: &AppState,
    caller: &FapiCaller,
    me: &Caller,
    response: impl serde::Serialize,
) -> Reply {
    let value = serde_json::to_value(response).map_err(ApiError::internal)?;
    envelope(state, caller, value, &me.client_id).await
}

/// `POST /v1/organizations` body.
#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    name: Option<String>,
    slug: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    caller: FapiCaller,
    FapiForm(body): FapiForm<CreateBody>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
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
            created_by: Some(me.user_id.clone()),
            ..CreateOrganization::default()
        },
    )
    .await?;
    wrap(
        &state,
        &caller,
        &me,
        OrganizationObject::frontend(&org, Some(1)),
    )
    .await
}

async fn get(state: web::Data<AppState>, caller: FapiCaller, path: web::Path<String>) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let (org, count) = service::get(&state, path.into_inner()).await?;
    require(&state, &me, &org.id, None).await?;
    wrap(
        &state,
        &caller,
        &me,
        OrganizationObject::frontend(&org, Some(count)),
    )
    .await
}

async fn update(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
    FapiForm(body): FapiForm<CreateBody>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let org_id = path.into_inner();
    require(&state, &me, &org_id, Some("org:sys_profile:manage")).await?;
    let org = service::update(
        &state,
        org_id,
        UpdateOrganization {
            name: body.name,
            slug: body.slug,
            ..UpdateOrganization::default()
        },
    )
    .await?;
    wrap(
        &state,
        &caller,
        &me,
        OrganizationObject::frontend(&org, None),
    )
    .await
}

async fn delete(state: web::Data<AppState>, caller: FapiCaller, path: web::Path<String>) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let org_id = path.into_inner();
    require(&state, &me, &org_id, Some("org:sys_profile:delete")).await?;
    let (org, _) = service::get(&state, org_id).await?;
    if !org.admin_delete_enabled {
        return Err(ApiError::new(
            ErrorCode::ActionNotAllowed,
            "Deleting this organization is not allowed",
            "Admins cannot delete this organization; ask the instance operator.",
        ));
    }
    let deleted = service::delete(&state, org.id).await?;
    wrap(&state, &caller, &me, deleted).await
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
    caller: &FapiCaller,
    me: &Caller,
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
    wrap(state, caller, me, response).await
}

async fn list_memberships(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let membership = require(
        &state,
        &me,
        &path.into_inner(),
        Some("org:sys_memberships:read"),
    )
    .await?;
    let filter = MembershipFilter {
        organization_id: Some(membership.organization_id),
        ..MembershipFilter::default()
    };
    memberships_reply(
        &state,
        &caller,
        &me,
        filter,
        &PageParams {
            paginated: true,
            ..params
        },
    )
    .await
}

async fn membership_reply(
    state: &AppState,
    caller: &FapiCaller,
    me: &Caller,
    row: MembershipRow,
) -> Reply {
    let object = service::membership_objects(state, vec![row], false)
        .await?
        .pop();
    wrap(state, caller, me, object).await
}

async fn add_member(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
    FapiForm(body): FapiForm<CreateMembership>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let org_id = path.into_inner();
    require(&state, &me, &org_id, Some("org:sys_memberships:manage")).await?;
    let row = service::add_member(
        &state,
        org_id,
        CreateMembership {
            public_metadata: None,
            private_metadata: None,
            ..body
        },
    )
    .await?;
    membership_reply(&state, &caller, &me, row).await
}

/// `PATCH …/memberships/{user_id}` body.
#[derive(Debug, Default, Deserialize)]
struct RoleBody {
    role: Option<String>,
}

async fn change_role(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<(String, String)>,
    FapiForm(body): FapiForm<RoleBody>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let (org_id, user_id) = path.into_inner();
    require(&state, &me, &org_id, Some("org:sys_memberships:manage")).await?;
    let row = service::change_role(&state, org_id, user_id, body.role).await?;
    membership_reply(&state, &caller, &me, row).await
}

async fn remove_member(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<(String, String)>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let (org_id, user_id) = path.into_inner();
    require(&state, &me, &org_id, Some("org:sys_memberships:manage")).await?;
    let row = service::remove_member(&state, org_id, user_id).await?;
    membership_reply(&state, &caller, &me, row).await
}

async fn my_memberships(
    state: web::Data<AppState>,
    caller: FapiCaller,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let filter = MembershipFilter {
        user_ids: vec![me.user_id.clone()],
        ..MembershipFilter::default()
    };
    memberships_reply(&state, &caller, &me, filter, &params).await
}

async fn leave(state: web::Data<AppState>, caller: FapiCaller, path: web::Path<String>) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let org_id = path.into_inner();
    require(&state, &me, &org_id, None).await?;
    let row = service::remove_member(&state, org_id, me.user_id.clone()).await?;
    membership_reply(&state, &caller, &me, row).await
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
    caller: &FapiCaller,
    me: &Caller,
    filter: InvitationFilter,
    params: &InvitationParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = invitations::list(state, filter, page, false).await?;
    wrap(
        state,
        caller,
        me,
        json!({ "data": data, "total_count": total }),
    )
    .await
}

async fn list_invitations(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let membership = require(
        &state,
        &me,
        &path.into_inner(),
        Some("org:sys_memberships:read"),
    )
    .await?;
    let filter = InvitationFilter {
        organization_id: Some(membership.organization_id),
        status: params.status.clone(),
        ..InvitationFilter::default()
    };
    invitations_reply(&state, &caller, &me, filter, &params).await
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
    caller: FapiCaller,
    path: web::Path<String>,
    FapiForm(body): FapiForm<InviteBody>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let membership = require(
        &state,
        &me,
        &path.into_inner(),
        Some("org:sys_memberships:manage"),
    )
    .await?;
    let mut created = invitations::create(
        &state,
        membership.organization_id,
        vec![CreateInvitation {
            email_address: body.email_address,
            role: body.role,
            redirect_url: body.redirect_url,
            inviter_user_id: Some(me.user_id.clone()),
            ..CreateInvitation::default()
        }],
        false,
    )
    .await?;
    wrap(&state, &caller, &me, created.pop()).await
}

async fn revoke_invitation(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<(String, String)>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let (org_id, id) = path.into_inner();
    let membership = require(&state, &me, &org_id, Some("org:sys_memberships:manage")).await?;
    let revoked = invitations::revoke(&state, membership.organization_id, id, false).await?;
    wrap(&state, &caller, &me, revoked).await
}

async fn my_invitations(
    state: web::Data<AppState>,
    caller: FapiCaller,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let emails =
        crate::modules::users::service::verified_emails(&state, me.user_id.clone()).await?;
    if emails.is_empty() {
        return wrap(
            &state,
            &caller,
            &me,
            json!({ "data": [], "total_count": 0 }),
        )
        .await;
    }
    let filter = InvitationFilter {
        email_addresses: emails,
        status: params.status.clone().or_else(|| Some("pending".to_owned())),
        ..InvitationFilter::default()
    };
    invitations_reply(&state, &caller, &me, filter, &params).await
}

async fn accept_invitation(
    state: web::Data<AppState>,
    caller: FapiCaller,
    path: web::Path<String>,
) -> Reply {
    let me = signed_in(&state, &caller).await?;
    let emails =
        crate::modules::users::service::verified_emails(&state, me.user_id.clone()).await?;
    let accepted =
        invitations::accept(&state, me.user_id.clone(), emails, path.into_inner()).await?;
    wrap(&state, &caller, &me, accepted).await
}
