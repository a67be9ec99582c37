//! Backend API handlers: organizations, memberships, roles, permissions and
//! the instance's organization settings.
//!
//! Every route is registered here, in [`configure`]; the handlers live in one
//! file per resource (`organizations.rs`, `memberships.rs`, `invitations.rs`,
//! `roles.rs` for roles, permissions and settings), with the reply helpers
//! they share kept in this file.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::ApiError;

mod invitations;
mod memberships;
mod organizations;
mod roles;

type Reply = Result<HttpResponse, ApiError>;

/// Mounts the routes inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations", web::get().to(organizations::list))
        .route("/organizations", web::post().to(organizations::create))
        .route("/organizations/{id}", web::get().to(organizations::get))
        .route(
            "/organizations/{id}",
            web::patch().to(organizations::update),
        )
        .route(
            "/organizations/{id}",
            web::delete().to(organizations::delete),
        )
        .route(
            "/organizations/{id}/metadata",
            web::patch().to(organizations::merge_metadata),
        )
        .route(
            "/organizations/{id}/metadata",
            web::put().to(organizations::replace_metadata),
        )
        .route(
            "/organizations/{id}/memberships",
            web::get().to(memberships::list_memberships),
        )
        .route(
            "/organizations/{id}/memberships",
            web::post().to(memberships::add_member),
        )
        .route(
            "/organizations/{id}/memberships/{user_id}",
            web::patch().to(memberships::change_role),
        )
        .route(
            "/organizations/{id}/memberships/{user_id}",
            web::delete().to(memberships::remove_member),
        )
        .route(
            "/organizations/{id}/memberships/{user_id}/metadata",
            web::patch().to(memberships::membership_metadata),
        )
        .route(
            "/organization_memberships",
            web::get().to(memberships::instance_memberships),
        )
        .route(
            "/users/{user_id}/organization_memberships",
            web::get().to(memberships::user_memberships),
        )
        .route(
            "/organizations/{id}/invitations",
            web::get().to(invitations::list_invitations),
        )
        .route(
            "/organizations/{id}/invitations",
            web::post().to(invitations::invite),
        )
        .route(
            "/organizations/{id}/invitations/bulk",
            web::post().to(invitations::invite_bulk),
        )
        .route(
            "/organizations/{id}/invitations/pending",
            web::get().to(invitations::pending_invitations),
        )
        .route(
            "/organizations/{id}/invitations/{invitation_id}",
            web::get().to(invitations::get_invitation),
        )
        .route(
            "/organizations/{id}/invitations/{invitation_id}/revoke",
            web::post().to(invitations::revoke_invitation),
        )
        .route(
            "/organization_invitations",
            web::get().to(invitations::instance_invitations),
        )
        .route(
            "/users/{user_id}/organization_invitations",
            web::get().to(invitations::user_invitations),
        )
        .route("/organization_roles", web::get().to(roles::list_roles))
        .route("/organization_roles", web::post().to(roles::create_role))
        .route("/organization_roles/{id}", web::get().to(roles::get_role))
        .route(
            "/organization_roles/{id}",
            web::patch().to(roles::update_role),
        )
        .route(
            "/organization_roles/{id}",
            web::delete().to(roles::delete_role),
        )
        .route(
            "/organization_roles/{id}/permissions/{permission_id}",
            web::post().to(roles::grant),
        )
        .route(
            "/organization_roles/{id}/permissions/{permission_id}",
            web::delete().to(roles::revoke),
        )
        .route(
            "/organization_permissions",
            web::get().to(roles::list_permissions),
        )
        .route(
            "/organization_permissions",
            web::post().to(roles::create_permission),
        )
        .route(
            "/organization_permissions/{id}",
            web::get().to(roles::get_permission),
        )
        .route(
            "/organization_permissions/{id}",
            web::patch().to(roles::update_permission),
        )
        .route(
            "/organization_permissions/{id}",
            web::delete().to(roles::delete_permission),
        )
        .route(
            "/instance/organization_settings",
            web::get().to(roles::get_settings),
        )
        .route(
            "/instance/organization_settings",
            web::patch().to(roles::update_settings),
        );
}

fn page_of<T: serde::Serialize>(data: Vec<T>, total: i64) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "data": data, "total_count": total }))
}

/// Metadata bodies.
#[derive(Debug, Default, Deserialize)]
struct MetadataBody {
    public_metadata: Option<Value>,
    private_metadata: Option<Value>,
}
