//! The Frontend API's composition layer: the objects that show several
//! modules at once, built here from the modules' services so that no
//! module has to know the others. The client object carries the client's
//! sessions (session module), each with its user (users module), and its
//! current sign-in and sign-up (signin, signup); every Frontend API
//! response is the `{response, client}` envelope around it.
//!
//! The routes that answer with these objects (`/v1/client`, a session's
//! `/touch`, `/end` and `/remove`) are the session module's routes and are
//! mounted with them ([`configure_session_routes`]): a process that does not
//! serve sessions has none of them.

mod caller;
mod client;
mod routes;
mod session_user;

pub use caller::{
    AnyRole, DeleteOrganization, ManageMembers, ManageProfile, OrgMember, OrgPermission,
    ReadMembers, SignedIn,
};
pub use client::{envelope, frontend_session, FrontendSession};
pub use routes::configure as configure_session_routes;

use crate::modules::{session, Area, Module};

/// The session area's registry entry: the session module's own routes and
/// background work ([`session::AREA`]), with the routes composed here
/// mounted after its own on each listener (the token route stays first).
/// Those composed routes are what call the other areas.
pub const SESSION_AREA: Area = Area {
    id: Module::Session,
    frontend: Some(session_frontend),
    backend: Some(session_backend),
    webhooks: None,
    background: session::AREA.background,
    jobs: session::AREA.jobs,
    calls: &[
        // Organization claims when the active organization changes; goes
        // once the organizations area pushes them into the session store.
        Module::Orgs,
        Module::Signin,
        Module::Signup,
        Module::Users,
    ],
    pushes: session::AREA.pushes,
    sign_in: None,
    reseal: None,
    init: session::AREA.init,
    migrations: session::AREA.migrations,
};

fn session_frontend(cfg: &mut actix_web::web::ServiceConfig) {
    session::frontend::configure(cfg);
    configure_session_routes(cfg);
}

fn session_backend(cfg: &mut actix_web::web::ServiceConfig) {
    session::backend::configure(cfg);
    crate::bapi::configure_session_routes(cfg);
}
