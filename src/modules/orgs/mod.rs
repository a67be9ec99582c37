//! The organizations module: organizations, memberships, roles and
//! permissions (Backend API `/v1/organizations…`, `/v1/organization_roles`,
//! `/v1/organization_permissions`, `/v1/instance/organization_settings`;
//! Frontend API `/v1/organizations…`, `/v1/me/organization_memberships`),
//! and the active organization's claims in session tokens.

mod acceptance;
pub mod backend;
mod claims;
pub mod frontend;
pub mod invitations;
mod list;
mod memberships;
mod model;
mod roles;
pub mod service;
mod slug;
mod store;
