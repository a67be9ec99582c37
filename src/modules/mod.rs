//! Product areas. Each module owns its tables and routes and talks to other
//! modules only through their `service` functions, so a process role can run
//! any subset of them.
//!
//! [`REGISTRY`] holds one [`Area`] per module (declared as `AREA` in the
//! module's own `mod.rs`): its routes on each listener, its background
//! work and the areas whose services it calls. `app` mounts, starts and
//! connects from these descriptions alone, so adding an area is its folder,
//! its id in `id.rs` and its line here (see `docs/ARCHITECTURE.md`,
//! "Adding an area").

use std::sync::Arc;

use actix_web::web::ServiceConfig;
use futures_util::future::LocalBoxFuture;

use crate::db::migrations::{Layout, Migrations};
use crate::state::AppState;

pub mod billing;
pub mod external_sign_in;
pub mod id;
pub mod oauth;
pub mod orgs;
pub mod saml;
pub mod session;
pub mod signin;
pub mod signup;
pub mod users;

pub use id::Module;

/// Every area of this build, in the order their routes are mounted.
pub const REGISTRY: &[&Area] = &[
    &billing::AREA,
    &oauth::AREA,
    &orgs::AREA,
    // The session module with the Frontend API routes composed above the
    // modules (`src/fapi/`).
    &saml::AREA,
    &crate::fapi::SESSION_AREA,
    &signin::AREA,
    &signup::AREA,
    &users::AREA,
];

/// One outbox push: the receiving area's receiver, and the one-time fill
/// of its copy from what the pushing area already had.
#[derive(Clone, Copy)]
pub struct Push {
    pub receiver: &'static dyn crate::outbox::Receiver,
    pub backfill: crate::outbox::Backfill,
}

/// An area's own state, built by its entry's `init`.
pub type AreaState = Box<dyn std::any::Any + Send + Sync>;

/// Mounts routes under `/v1` on one listener.
pub type Routes = fn(&mut ServiceConfig);

/// Opens an area's sealed secrets with the old key (or checks those already
/// under the new one) and seals them under the new key, in one transaction
/// with conditional updates; returns how many it re-sealed.
pub type Reseal = fn(
    &mut crate::db::DbConnection,
    old: &crate::crypto::sealed::EncryptionKey,
    new: &crate::crypto::sealed::EncryptionKey,
) -> anyhow::Result<usize>;

/// A task that runs until the process stops.
pub type Task = fn(Arc<AppState>) -> LocalBoxFuture<'static, ()>;

/// What the core needs to know about an area.
pub struct Area {
    pub id: Module,
    /// Frontend API routes, when the area has any.
    pub frontend: Option<Routes>,
    /// Backend API routes (all behind the secret key), when it has any.
    pub backend: Option<Routes>,
    /// Routes on the Backend API listener outside the secret-key scope, for
    /// callers that prove who they are another way (a payment provider's
    /// signed webhooks); the handler checks that proof before it reads
    /// anything. Mounted on the app itself, so each names its full path
    /// (`/v1/…`) and must be an exact one: a scope there would hide the
    /// authenticated `/v1` routes.
    pub webhooks: Option<Routes>,
    /// Work that runs in every process serving the area's routes.
    pub background: &'static [Task],
    /// Jobs (compaction, retention) that run in `worker` processes, and
    /// with `retention.jobs_in_session_processes` in session processes.
    pub jobs: &'static [Task],
    /// Areas whose services this one's routes, jobs and services call: a
    /// process serving this area also connects to their databases at
    /// start-up (see [`databases_used`]). Only direct calls: a database
    /// reached through another area's service is connected on first use.
    pub calls: &'static [Module],
    /// What the area pushes to another area's copy through the outbox
    /// (see [`crate::outbox`]): delivered from every process serving this
    /// area, and from the worker.
    pub pushes: &'static [Push],
    /// The sign-in strategies the area finishes at an outside identity
    /// provider (see [`external_sign_in`]), when it has any.
    pub sign_in: Option<&'static dyn external_sign_in::ExternalSignIn>,
    /// Re-seals the area's own secrets at rest under a new encryption key
    /// (`steward keys rewrap`), on the database that holds the area.
    pub reseal: Option<Reseal>,
    /// Builds the area's own state (clients of outside services, parsed
    /// settings) once per process when the area is enabled; handlers and
    /// jobs reach it with [`AppState::area`]. An error stops start-up.
    pub init: Option<fn(&crate::config::Settings) -> anyhow::Result<AreaState>>,
    /// The area's tables: migrations kept in its folder
    /// (`migrations/<backend>/`), run on the database that holds it.
    pub migrations: &'static Migrations,
}

impl std::fmt::Debug for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Area")
            .field("id", &self.id)
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

/// The registry entry of `module`.
pub fn area(module: Module) -> &'static Area {
    REGISTRY
        .iter()
        .copied()
        .find(|area| area.id == module)
        .unwrap_or_else(|| unreachable!("{module} has no registry entry"))
}

/// The areas whose databases a process uses when it serves `served`
/// (routes or jobs): those areas and the areas they call. A process
/// connects to these at start-up, waits for those that are down and
/// reports them in `/readyz`; any other module database gets a pool that
/// connects only if a query ever needs it.
pub fn databases_used(served: &[Module]) -> Vec<Module> {
    let mut used: Vec<Module> = served
        .iter()
        .flat_map(|module| std::iter::once(module).chain(area(*module).calls))
        .copied()
        .collect();
    used.sort();
    used.dedup();
    used
}

/// The states of the enabled areas that have an `init`, by area.
#[derive(Default)]
pub struct AreaStates(std::collections::BTreeMap<Module, AreaState>);

impl AreaStates {
    /// Builds the state of every enabled area that has an `init`.
    pub fn init(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        let enabled = settings.enabled_modules();
        let mut states = std::collections::BTreeMap::new();
        for area in REGISTRY.iter().filter(|area| enabled.contains(&area.id)) {
            if let Some(init) = area.init {
                states.insert(area.id, init(settings)?);
            }
        }
        Ok(Self(states))
    }

    /// `module`'s state, if it has one of type `T`.
    pub fn get<T: 'static>(&self, module: Module) -> Option<&T> {
        self.0.get(&module)?.downcast_ref()
    }
}

impl std::fmt::Debug for AreaStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Which database holds which area's tables.
pub fn schema_layout() -> Layout {
    Layout::new(REGISTRY.iter().map(|area| (area.id, area.migrations)))
}

/// The areas that have jobs, for a process that runs them.
pub fn areas_with_jobs() -> Vec<Module> {
    REGISTRY
        .iter()
        .filter(|area| !area.jobs.is_empty())
        .map(|area| area.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_exactly_one_registry_entry() {
        for module in Module::ALL {
            let entries = REGISTRY.iter().filter(|a| a.id == *module).count();
            assert_eq!(entries, 1, "{module}");
        }
        assert_eq!(REGISTRY.len(), Module::ALL.len());
    }

    #[test]
    fn each_area_names_its_own_migrations() {
        for area in REGISTRY {
            assert_eq!(area.migrations.part, area.id.name());
        }
    }

    #[test]
    fn databases_used_are_the_served_areas_and_those_they_call() {
        assert_eq!(
            databases_used(&[Module::Signin]),
            vec![Module::Session, Module::Signin, Module::Users]
        );
        assert!(databases_used(&[]).is_empty());
    }
}
