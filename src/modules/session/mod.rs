//! The session module, Steward's always-on core: clients, sessions and
//! session tokens (Frontend API `/v1/client…`, `/v1/environment`; Backend
//! API `/v1/sessions`, `/v1/clients`). Minting a token needs only the
//! session row and the key held in memory.

pub mod backend;
mod clients;
mod endings;
mod environment;
pub mod frontend;
pub mod jobs;
mod model;
mod refresh;
pub mod service;
mod store;
mod token;
mod token_reads;
pub mod writes;

pub use token::TokenMinter;
pub use token_reads::TokenSessionReads;
pub use writes::SessionWrites;
