//! Backend API handlers: organizations, memberships, roles, permissions and
//! the instance's organization settings.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::invitations::{self, CreateInvitation, InvitationFilter};
use super::model::OrganizationObject;
use super::roles::{self, PermissionInput, RoleInput, SettingsInput};
use super::service::{self, CreateMembership, CreateOrganization, UpdateOrganization};
use super::store::{MembershipFilter, OrgFilter};
use crate::http::{ApiError, ClerkJson, ClerkQuery, Pagination};
use crate::state::AppState;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations", web::get().to(list))
        .route("/organizations", web::post().to(create))
        .route("/organizations/{id}", web::get().to(get))
        .route("/organizations/{id}", web::patch().to(update))
        .route("/organizations/{id}", web::delete().to(delete))
        .route(
            "/organizations/{id}/metadata",
            web::patch().to(merge_metadata),
        )
        .route(
            "/organizations/{id}/metadata",
            web::put().to(replace_metadata),
        )
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
            "/organizations/{id}/memberships/{user_id}/metadata",
            web::patch().to(membership_metadata),
        )
        .route(
            "/organization_memberships",
            web::get().to(instance_memberships),
        )
        .route(
            "/users/{user_id}/organization_memberships",
            web::get().to(user_memberships),
        )
        .route(
            "/organizations/{id}/invitations",
            web::get().to(list_invitations),
        )
        .route("/organizations/{id}/invitations", web::post().to(invite))
        .route(
            "/organizations/{id}/invitations/bulk",
            web::post().to(invite_bulk),
        )
        .route(
            "/organizations/{id}/invitations/pending",
            web::get().to(pending_invitations),
        )
        .route(
            "/organizations/{id}/invitations/{invitation_id}",
            web::get().to(get_invitation),
        )
        .route(
            "/organizations/{id}/invitations/{invitation_id}/revoke",
            web::post().to(revoke_invitation),
        )
        .route(
            "/organization_invitations",
            web::get().to(instance_invitations),
        )
        .route(
            "/users/{user_id}/organization_invitations",
            web::get().to(user_invitations),
        )
        .route("/organization_roles", web::get().to(list_roles))
        .route("/organization_roles", web::post().to(create_role))
        .route("/organization_roles/{id}", web::get().to(get_role))
        .route("/organization_roles/{id}", web::patch().to(update_role))
        .route("/organization_roles/{id}", web::delete().to(delete_role))
        .route(
            "/organization_roles/{id}/permissions/{permission_id}",
            web::post().to(grant),
        )
        .route(
            "/organization_roles/{id}/permissions/{permission_id}",
            web::delete().to(revoke),
        )
        .route("/organization_permissions", web::get().to(list_permissions))
        .route(
            "/organization_permissions",
            web::post().to(create_permission),
        )
        .route(
            "/organization_permissions/{id}",
            web::get().to(get_permission),
        )
        .route(
            "/organization_permissions/{id}",
            web::patch().to(update_permission),
        )
        .route(
            "/organization_permissions/{id}",
            web::delete().to(delete_permission),
        )
        .route(
            "/instance/organization_settings",
            web::get().to(get_settings),
        )
        .route(
            "/instance/organization_settings",
            web::patch().to(update_settings),
        );
}

fn page_of<T: serde::Serialize>(data: Vec<T>, total: i64) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "data": data, "total_count": total }))
}

/// `GET /v1/organizations` parameters.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    query: Option<String>,
    #[serde(default, alias = "user_id[]")]
    user_id: Vec<String>,
    #[serde(default, alias = "organization_id[]")]
    organization_id: Vec<String>,
    order_by: Option<String>,
    #[serde(default)]
    include_members_count: bool,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(state: web::Data<AppState>, ClerkQuery(params): ClerkQuery<ListParams>) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let newest_first = match params
        .order_by
        .as_deref()
        .map(|o| o.trim_start_matches(' '))
    {
        None | Some("-created_at") => true,
        Some("+created_at") | Some("created_at") => false,
        Some(_) => {
            return Err(ApiError::param_value(
                "order_by",
                "order_by must be +created_at or -created_at.",
            ))
        }
    };
    if params
        .query
        .as_ref()
        .is_some_and(|q| q.chars().count() > 256)
    {
        return Err(ApiError::param_too_long("query", 256));
    }
    let filter = OrgFilter {
        query: params
            .query
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty()),
        user_ids: params.user_id,
        organization_ids: params.organization_id,
    };
    let (rows, total) = service::list(
        &state,
        filter,
        newest_first,
        page,
        params.include_members_count,
    )
    .await?;
    let data: Vec<OrganizationObject> = rows
        .iter()
        .map(|(org, count)| OrganizationObject::backend(org, *count))
        .collect();
    Ok(page_of(data, total))
}

async fn create(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<CreateOrganization>,
) -> Reply {
    let org = service::create(&state, body).await?;
    let (org, count) = service::get(&state, org.id).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, Some(count))))
}

async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let (org, count) = service::get(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, Some(count))))
}

async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<UpdateOrganization>,
) -> Reply {
    let org = service::update(&state, path.into_inner(), body).await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}

async fn delete(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(service::delete(&state, path.into_inner()).await?))
}

/// Metadata bodies.
#[derive(Debug, Default, Deserialize)]
struct MetadataBody {
    public_metadata: Option<Value>,
    private_metadata: Option<Value>,
}

async fn merge_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<MetadataBody>,
) -> Reply {
    let org = service::set_metadata(
        &state,
        path.into_inner(),
        body.public_metadata,
        body.private_metadata,
        false,
    )
    .await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}

async fn replace_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<MetadataBody>,
) -> Reply {
    let org = service::set_metadata(
        &state,
        path.into_inner(),
        body.public_metadata,
        body.private_metadata,
        true,
    )
    .await?;
    Ok(HttpResponse::Ok().json(OrganizationObject::backend(&org, None)))
}

/// Membership list parameters.
#[derive(Debug, Default, Deserialize)]
struct MembershipParams {
    #[serde(default, alias = "user_id[]")]
    user_id: Vec<String>,
    #[serde(default, alias = "role[]")]
    role: Vec<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn memberships_page(
    state: &AppState,
    filter: MembershipFilter,
    params: &MembershipParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (rows, total) = service::list_memberships(state, filter, page).await?;
    Ok(page_of(
        service::membership_objects(state, rows, true).await?,
        total,
    ))
}

async fn list_memberships(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: Some(path.into_inner()),
        user_ids: params.user_id.clone(),
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params).await
}

async fn instance_memberships(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: None,
        user_ids: params.user_id.clone(),
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params).await
}

async fn user_memberships(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<MembershipParams>,
) -> Reply {
    let filter = MembershipFilter {
        organization_id: None,
        user_ids: vec![path.into_inner()],
        roles: params.role.clone(),
    };
    memberships_page(&state, filter, &params).await
}

async fn membership_reply(state: &AppState, row: super::model::MembershipRow) -> Reply {
    let mut objects = service::membership_objects(state, vec![row], true).await?;
    let object = objects
        .pop()
        .ok_or_else(|| ApiError::internal("membership object missing"))?;
    Ok(HttpResponse::Ok().json(object))
}

async fn add_member(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<CreateMembership>,
) -> Reply {
    let row = service::add_member(&state, path.into_inner(), body).await?;
    membership_reply(&state, row).await
}

/// `PATCH …/memberships/{user_id}` body.
#[derive(Debug, Default, Deserialize)]
struct RoleBody {
    role: Option<String>,
}

async fn change_role(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    ClerkJson(body): ClerkJson<RoleBody>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::change_role(&state, org_id, user_id, body.role).await?;
    membership_reply(&state, row).await
}

async fn remove_member(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::remove_member(&state, org_id, user_id).await?;
    membership_reply(&state, row).await
}

async fn membership_metadata(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    ClerkJson(body): ClerkJson<MetadataBody>,
) -> Reply {
    let (org_id, user_id) = path.into_inner();
    let row = service::membership_metadata(
        &state,
        org_id,
        user_id,
        body.public_metadata,
        body.private_metadata,
    )
    .await?;
    membership_reply(&state, row).await
}

/// Role and permission list parameters.
#[derive(Debug, Default, Deserialize)]
struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_roles(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let (data, total) =
        roles::list_roles(&state, Pagination::new(params.limit, params.offset)?).await?;
    Ok(page_of(data, total))
}

async fn create_role(state: web::Data<AppState>, ClerkJson(body): ClerkJson<RoleInput>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::create_role(&state, body).await?))
}

async fn get_role(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::get_role(&state, path.into_inner()).await?))
}

async fn update_role(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<RoleInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::update_role(&state, path.into_inner(), body).await?))
}

async fn delete_role(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::delete_role(&state, path.into_inner()).await?))
}

async fn grant(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Reply {
    let (role, permission) = path.into_inner();
    Ok(HttpResponse::Ok().json(roles::set_role_permission(&state, role, permission, true).await?))
}

async fn revoke(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Reply {
    let (role, permission) = path.into_inner();
    Ok(HttpResponse::Ok().json(roles::set_role_permission(&state, role, permission, false).await?))
}

async fn list_permissions(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<PageParams>,
) -> Reply {
    let (data, total) =
        roles::list_permissions(&state, Pagination::new(params.limit, params.offset)?).await?;
    Ok(page_of(data, total))
}

async fn create_permission(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<PermissionInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::create_permission(&state, body).await?))
}

async fn get_permission(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::get_permission(&state, path.into_inner()).await?))
}

async fn update_permission(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<PermissionInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::update_permission(&state, path.into_inner(), body).await?))
}

async fn delete_permission(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::delete_permission(&state, path.into_inner()).await?))
}

async fn get_settings(state: web::Data<AppState>) -> Reply {
    Ok(HttpResponse::Ok().json(roles::settings_object(&service::settings(&state).await?)))
}

async fn update_settings(
    state: web::Data<AppState>,
    ClerkJson(body): ClerkJson<SettingsInput>,
) -> Reply {
    Ok(HttpResponse::Ok().json(roles::update_settings(&state, body).await?))
}

/// Invitation list parameters.
#[derive(Debug, Default, Deserialize)]
struct InvitationParams {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn invitations_page(
    state: &AppState,
    filter: InvitationFilter,
    params: &InvitationParams,
) -> Reply {
    let page = Pagination::new(params.limit, params.offset)?;
    let (data, total) = invitations::list(state, filter, page, true).await?;
    Ok(page_of(data, total))
}

async fn list_invitations(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        organization_id: Some(path.into_inner()),
        status: params.status.clone(),
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

async fn pending_invitations(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        organization_id: Some(path.into_inner()),
        status: Some("pending".to_owned()),
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

async fn instance_invitations(
    state: web::Data<AppState>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let filter = InvitationFilter {
        status: params.status.clone(),
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

async fn user_invitations(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkQuery(params): ClerkQuery<InvitationParams>,
) -> Reply {
    let emails = crate::modules::users::service::verified_emails(&state, path.into_inner()).await?;
    if emails.is_empty() {
        return Ok(page_of(Vec::<Value>::new(), 0));
    }
    let filter = InvitationFilter {
        email_addresses: emails,
        status: params.status.clone(),
        ..InvitationFilter::default()
    };
    invitations_page(&state, filter, &params).await
}

async fn invite(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<CreateInvitation>,
) -> Reply {
    let mut created = invitations::create(&state, path.into_inner(), vec![body], true).await?;
    let object = created
        .pop()
        .ok_or_else(|| ApiError::internal("invitation missing"))?;
    Ok(HttpResponse::Ok().json(object))
}

async fn invite_bulk(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ClerkJson(body): ClerkJson<Vec<CreateInvitation>>,
) -> Reply {
    let created = invitations::create(&state, path.into_inner(), body, true).await?;
    let total = i64::try_from(created.len()).unwrap_or(i64::MAX);
    Ok(page_of(created, total))
}

async fn get_invitation(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Reply {
    let (org_id, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(invitations::get(&state, org_id, id, true).await?))
}

async fn revoke_invitation(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Reply {
    let (org_id, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(invitations::revoke(&state, org_id, id, true).await?))
}
