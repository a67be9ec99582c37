//! `[modules.<area>]`: which product modules are switched on. A module that
//! is off is removed from every process role.

use serde::{Deserialize, Serialize};

use crate::modules::Module;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModulesSettings {
    pub orgs: ModuleToggle,
    pub session: ModuleToggle,
    pub signin: ModuleToggle,
    pub signup: ModuleToggle,
    pub users: ModuleToggle,
}

impl ModulesSettings {
    /// Whether `module` is switched on in this configuration.
    pub fn is_enabled(&self, module: Module) -> bool {
        match module {
            Module::Orgs => self.orgs.enabled,
            Module::Session => self.session.enabled,
            Module::Signin => self.signin.enabled,
            Module::Signup => self.signup.enabled,
            Module::Users => self.users.enabled,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleToggle {
    pub enabled: bool,
}
