//! `[modules.<area>]`: which product modules are switched on, and each
//! area's own settings. A module that is off is removed from every process
//! role. An area without a section is on, so a new area needs no change
//! here; an unknown name is refused. The other keys of a section belong to
//! the area, which reads them into its own type ([`ModulesSettings::area`]),
//! refusing unknown keys there.

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

    /// The area's own settings from its section (every key but
    /// `enabled`), read into `T`; `T::default()`'s values stand for
    /// missing keys when `T` says so with `#[serde(default)]`.
    pub fn area<T: serde::de::DeserializeOwned>(&self, module: Module) -> Result<T, String> {
        let keys = self
            .0
            .get(&module)
            .map(|toggle| toggle.settings.clone())
            .unwrap_or_default();
        serde_json::from_value(serde_json::Value::Object(keys))
            .map_err(|e| format!("[modules.{module}]: {e}"))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ModuleToggle {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The area's own keys, read by the area. Shown with the values of
    /// keys naming a secret or password masked.
    #[serde(flatten, serialize_with = "serialize_masked_keys")]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

fn enabled_by_default() -> bool {
    true
}

fn serialize_masked_keys<S: serde::Serializer>(
    keys: &serde_json::Map<String, serde_json::Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(keys.len()))?;
    for (key, value) in keys {
        map.serialize_entry(key, &masked(key, value))?;
    }
    map.end()
}

/// `value` with every string under a key naming a secret or password
/// masked, at any depth (an area's tables, such as
/// `[modules.oauth.connections.google]`, hold secrets too).
fn masked(key: &str, value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(secret)
            if !secret.is_empty() && (key.contains("secret") || key.contains("password")) =>
        {
            serde_json::Value::String(super::mask::mask_key(secret))
        }
        serde_json::Value::Object(inner) => serde_json::Value::Object(
            inner
                .iter()
                .map(|(k, v)| (k.clone(), masked(k, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
