//! A user's metadata (`/v1/users/{id}/metadata`): replace (`PUT`) or deep
//! merge (`PATCH`) the public, private and unsafe metadata objects.

use serde_json::{Map, Value};

use super::modify;
use crate::http::ApiError;
use crate::ids::UserId;
use crate::metadata;
use crate::modules::users::model::UserObject;
use crate::modules::users::requests::MetadataPatch;
use crate::state::AppState;

/// `PUT /v1/users/{id}/metadata`: each given object replaces the stored
/// one; kinds left out of the body stay as they are.
pub async fn replace_metadata(
    state: &AppState,
    id: UserId,
    input: MetadataPatch,
) -> Result<UserObject, ApiError> {
    let replacement = |param: &str, value: Option<Value>| {
        value
            .map(|v| metadata::metadata_text(param, Some(v)))
            .transpose()
    };
    let replacements = [
        replacement("public_metadata", input.public_metadata)?,
        replacement("private_metadata", input.private_metadata)?,
        replacement("unsafe_metadata", input.unsafe_metadata)?,
    ];
    modify(state, "users.replace_metadata", id, move |_conn, row| {
        let replacements = replacements.clone();
        let [public, private, unsafe_] = replacements;
        for (column, text) in [
            (&mut row.public_metadata, public),
            (&mut row.private_metadata, private),
            (&mut row.unsafe_metadata, unsafe_),
        ] {
            if let Some(text) = text {
                *column = text;
            }
        }
        Ok(())
    })
    .await
}

/// `PATCH /v1/users/{id}/metadata`: deep merge, `null` removes a key.
pub async fn merge_metadata(
    state: &AppState,
    id: UserId,
    input: MetadataPatch,
) -> Result<UserObject, ApiError> {
    let patches = [
        input
            .public_metadata
            .map(|v| metadata::metadata_object("public_metadata", v))
            .transpose()?,
        input
            .private_metadata
            .map(|v| metadata::metadata_object("private_metadata", v))
            .transpose()?,
        input
            .unsafe_metadata
            .map(|v| metadata::metadata_object("unsafe_metadata", v))
            .transpose()?,
    ];
    modify(state, "users.merge_metadata", id, move |_conn, row| {
        let patches = patches.clone();
        let [public, private, unsafe_] = patches;
        for (param, column, patch) in [
            ("public_metadata", &mut row.public_metadata, public),
            ("private_metadata", &mut row.private_metadata, private),
            ("unsafe_metadata", &mut row.unsafe_metadata, unsafe_),
        ] {
            if let Some(patch) = patch {
                let mut merged = match metadata::parse_metadata(column) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                metadata::merge_metadata(&mut merged, patch);
                metadata::check_metadata_size(param, &merged)?;
                *column = Value::Object(merged).to_string();
            }
        }
        Ok(())
    })
    .await
}
