//! `[modules.<area>]`: which product modules are switched on. A module that
//! is off is removed from every process role. An area without a section is
//! on, so a new area needs no change here; an unknown name is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::modules::id::Module;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ModulesSettings(BTreeMap<Module, ModuleToggle>);

impl ModulesSettings {
    /// Whether `module` is switched on in this configuration.
    pub fn is_enabled(&self, module: Module) -> bool {
        self.0.get(&module).is_none_or(|toggle| toggle.enabled)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleToggle {
    pub enabled: bool,
}
