//! Subscriptions: one per payer, with the items it went through (the
//! current one active, canceled or past due; earlier ones ended).

pub mod model;
pub mod objects;
pub mod service;
pub mod store;
