//! Steward: a self-hosted identity platform that speaks Clerk's HTTP API.
//!
//! One binary, built as a modular monolith: see `docs/ARCHITECTURE.md`.

pub mod app;
pub mod bapi;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod fapi;
pub mod http;
pub mod ids;
pub mod instance;
pub mod metadata;
pub mod modules;
pub mod notify;
pub mod outbox;
pub mod state;
pub mod telemetry;
pub mod time;
