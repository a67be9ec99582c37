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

mod client;
mod routes;
mod session_user;

pub use client::{envelope, frontend_session, FrontendSession};
pub use routes::configure as configure_session_routes;
