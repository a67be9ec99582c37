//! Process roles: which areas' routes a process mounts on each listener,
//! and whether it runs the background jobs.
//!
//! Built in: `all`; each area by its name (both listeners of that area);
//! `frontend` (the Frontend API of every area but session, which has its
//! own processes so token refresh survives the rest); `backend` (the
//! Backend API of every area); `worker` (no area's routes, the jobs).
//! `[roles]` names lists of areas, served on both listeners.

use super::{ConfigError, Settings};
use crate::modules::id::Module;

/// The role that serves no area and runs the background jobs (see
/// `retention.jobs_in_session_processes`).
pub const WORKER_ROLE: &str = "worker";
/// The role that serves the Frontend API of every area but session.
pub const FRONTEND_ROLE: &str = "frontend";
/// The role that serves the Backend API of every area.
pub const BACKEND_ROLE: &str = "backend";

/// Role names `[roles]` cannot take (nor can it take an area's name).
pub(super) const BUILT_IN_ROLES: [&str; 4] = ["all", FRONTEND_ROLE, BACKEND_ROLE, WORKER_ROLE];

/// What a process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleScope {
    /// Areas whose Frontend API routes this process mounts.
    pub frontend: Vec<Module>,
    /// Areas whose Backend API routes this process mounts.
    pub backend: Vec<Module>,
    /// Whether this is a `worker` process, which runs every area's jobs.
    pub worker: bool,
}

impl RoleScope {
    /// Every area with routes on either listener, sorted.
    pub fn modules(&self) -> Vec<Module> {
        let mut all: Vec<Module> = self.frontend.iter().chain(&self.backend).copied().collect();
        all.sort();
        all.dedup();
        all
    }

    /// Whether `module` has routes on either listener.
    pub fn serves(&self, module: Module) -> bool {
        self.frontend.contains(&module) || self.backend.contains(&module)
    }
}

impl Settings {
    /// What this process serves: its role, less the areas switched off.
    pub fn role_scope(&self) -> Result<RoleScope, ConfigError> {
        let enabled = self.enabled_modules();
        let both = |listed: Vec<Module>| {
            let listed: Vec<Module> = listed.into_iter().filter(|m| enabled.contains(m)).collect();
            RoleScope {
                frontend: listed.clone(),
                backend: listed,
                worker: false,
            }
        };
        let role = self.role.as_str();
        Ok(match role {
            "all" => both(enabled.clone()),
            FRONTEND_ROLE => RoleScope {
                frontend: enabled
                    .iter()
                    .copied()
                    .filter(|m| *m != Module::Session)
                    .collect(),
                backend: Vec::new(),
                worker: false,
            },
            BACKEND_ROLE => RoleScope {
                frontend: Vec::new(),
                backend: enabled.clone(),
                worker: false,
            },
            WORKER_ROLE => RoleScope {
                frontend: Vec::new(),
                backend: Vec::new(),
                worker: true,
            },
            _ => match Module::from_name(role) {
                Some(module) => both(vec![module]),
                None => match self.roles.get(role) {
                    Some(modules) => both(modules.clone()),
                    None => {
                        return Err(ConfigError::new(
                            "role",
                            format!(
                                "unknown role `{role}`: use {}, a module name ({}) or a name defined in [roles]",
                                BUILT_IN_ROLES.map(|r| format!("`{r}`")).join(", "),
                                Module::all_names()
                            ),
                        ))
                    }
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::config::LoadOptions;

    fn load(toml: &str, overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(toml.as_bytes()).expect("write");
        Settings::load(&LoadOptions {
            file: Some(file.path().to_owned()),
            environment: false,
            overrides: overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    #[test]
    fn roles_limit_modules() {
        let settings = load("", &[("role", "users")]).expect("valid");
        let scope = settings.role_scope().expect("valid");
        assert_eq!(scope.modules(), vec![Module::Users]);
        assert_eq!(scope.frontend, scope.backend);
        let off = load("", &[("modules.users.enabled", "false")]).expect("valid");
        assert!(!off.role_scope().expect("valid").serves(Module::Users));
        let worker = load("", &[("role", "worker")]).expect("valid");
        let scope = worker.role_scope().expect("valid");
        assert!(scope.modules().is_empty() && scope.worker);
    }

    #[test]
    fn frontend_and_backend_roles_split_the_listeners() {
        let frontend = load("", &[("role", "frontend")]).expect("valid");
        let scope = frontend.role_scope().expect("valid");
        assert!(scope.backend.is_empty());
        assert!(!scope.frontend.contains(&Module::Session));
        assert_eq!(scope.frontend.len(), Module::ALL.len() - 1);
        let backend = load("", &[("role", "backend")]).expect("valid");
        let scope = backend.role_scope().expect("valid");
        assert!(scope.frontend.is_empty());
        assert_eq!(scope.backend, Module::ALL.to_vec());
    }

    #[test]
    fn unknown_modules_are_refused_by_name() {
        for toml in [
            "[modules.telepathy]\nenabled = true\n",
            "[roles]\npay = [\"users\", \"telepathy\"]\n",
            "[database.modules.telepathy]\nurl = \"sqlite://telepathy.db\"\n",
        ] {
            let err = load(toml, &[]).expect_err(toml).to_string();
            assert!(
                err.contains("unknown module `telepathy`") && err.contains(&Module::all_names()),
                "{toml}: {err}"
            );
        }
    }

    #[test]
    fn named_roles_cannot_shadow_built_in_ones() {
        for name in ["all", "frontend", "backend", "worker", "session"] {
            let err = load(&format!("[roles]\n{name} = []\n"), &[]).expect_err(name);
            assert_eq!(err.key, format!("roles.{name}"));
        }
    }
}
