//! Metadata objects (public, private, unsafe) of users, organizations and
//! memberships: JSON objects stored as text, at most 8 KiB each, replaced
//! or deep-merged by Clerk's rules.

use serde_json::{Map, Value};

use crate::http::{ApiError, Patch};

/// Largest serialised metadata object, per kind (Clerk's limit).
pub const MAX_METADATA_BYTES: usize = 8 * 1024;

/// Metadata is stored as JSON text; anything unreadable reads as `{}`.
pub fn parse_metadata(text: &str) -> Value {
    serde_json::from_str::<Map<String, Value>>(text)
        .map(Value::Object)
        .unwrap_or_else(|_| Value::Object(Map::new()))
}

/// Requires a JSON object of at most [`MAX_METADATA_BYTES`].
pub fn metadata_object(param: &str, value: Value) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => {
            check_metadata_size(param, &map)?;
            Ok(map)
        }
        Value::Null => Ok(Map::new()),
        _ => Err(ApiError::param_format(
            param,
            format!("{param} must be a JSON object."),
        )),
    }
}

/// Rejects metadata larger than [`MAX_METADATA_BYTES`] once serialised.
pub fn check_metadata_size(param: &str, map: &Map<String, Value>) -> Result<(), ApiError> {
    let size = serde_json::to_vec(map).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_METADATA_BYTES {
        return Err(ApiError::param_value(
            param,
            format!("{param} must be at most {MAX_METADATA_BYTES} bytes once serialised."),
        ));
    }
    Ok(())
}

/// Deep-merges `patch` into `target`: objects merge key by key, `null`
/// removes a key, anything else replaces.
pub fn merge_metadata(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) => match target.get_mut(&key) {
                Some(Value::Object(existing)) => merge_metadata(existing, inner),
                _ => {
                    let mut fresh = Map::new();
                    merge_metadata(&mut fresh, inner);
                    target.insert(key, Value::Object(fresh));
                }
            },
            other => {
                target.insert(key, other);
            }
        }
    }
}

/// A metadata object as stored text; absent means `{}`.
pub fn metadata_text(param: &str, value: Option<Value>) -> Result<String, ApiError> {
    let map = value.map_or_else(|| Ok(Map::new()), |v| metadata_object(param, v))?;
    Ok(Value::Object(map).to_string())
}

/// A replacement metadata object as stored text; `null` replaces with `{}`.
pub fn metadata_patch(param: &str, patch: Patch<Value>) -> Result<Option<String>, ApiError> {
    match patch {
        Patch::Absent => Ok(None),
        Patch::Null => Ok(Some("{}".to_owned())),
        Patch::Value(v) => Ok(Some(Value::Object(metadata_object(param, v)?).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_merges_deeply_and_null_removes() {
        let mut target = json!({"a": 1, "nested": {"x": 1, "y": 2}, "gone": true})
            .as_object()
            .cloned()
            .expect("object");
        let patch = json!({"nested": {"y": null, "z": 3}, "gone": null, "b": [1]})
            .as_object()
            .cloned()
            .expect("object");
        merge_metadata(&mut target, patch);
        assert_eq!(
            Value::Object(target),
            json!({"a": 1, "nested": {"x": 1, "z": 3}, "b": [1]})
        );
    }
}
