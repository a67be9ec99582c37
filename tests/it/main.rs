//! Steward's integration tests, one binary for all of them: one link
//! instead of one per topic, and the peers the tests share (the PostgreSQL
//! cluster, PgBouncer) started once per run. Each topic is a module; run
//! one with `cargo test --test it <topic>::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod account_api;
mod account_integrity;
mod area_roles;
mod billing_checkout;
mod billing_claims;
mod billing_lifecycle;
mod billing_plans;
mod cli;
mod conformance;
mod email_code_flows;
mod email_delivery;
mod failover;
mod fapi_composition;
mod http_edges;
mod oauth_flows;
mod org_consistency;
mod org_invitations;
mod orgs_api;
mod outage_spool;
mod platform;
mod roles_nginx;
mod saml_acs;
mod saml_browser;
mod saml_connections;
mod sdk_compat;
mod session_history;
mod session_push;
mod sessions_api;
mod split_outage;
mod stripe_gateway;
mod users_api;
