//! Reading an [`Action`] from a JSON object (`{"kind": "urls", "urls":
//! […]}`), with errors that name the field at fault (`kind`, `urls`,
//! `post_ids[1]`). serde buffers an internally tagged enum, which loses the
//! path of an error inside it; so the object's fields are first checked one
//! by one against the kind's [`KindSpec`](super::KindSpec). The purge API,
//! the rule compiler and the command line all build actions through here.

use serde_json::{Map, Value};

use super::{Action, ActionKind};

/// An action that breaks a rule of the vocabulary; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidAction {
    /// The offending field (`""` for the action as a whole).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InvalidAction {
    /// Builds the error.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl Action {
    /// Parses a JSON value as an action; the error names the field at fault.
    pub fn from_json(value: Value) -> Result<Action, InvalidAction> {
        match value {
            Value::Object(object) => Action::from_object(object),
            _ => Err(InvalidAction::new("", "expected an object with a kind")),
        }
    }

    /// Parses an object with a `kind` and that kind's fields.
    pub fn from_object(object: Map<String, Value>) -> Result<Action, InvalidAction> {
        check_fields(&object)?;
        serde_json::from_value(Value::Object(object))
            .map_err(|error| InvalidAction::new("", error.to_string()))
    }
}

/// The kind an object names.
fn kind_of(object: &Map<String, Value>) -> Result<ActionKind, InvalidAction> {
    match object.get("kind") {
        None => Err(InvalidAction::new(
            "kind",
            format!("missing; one of {}", ActionKind::names()),
        )),
        Some(Value::String(kind)) => kind
            .parse()
            .map_err(|error: super::UnknownKind| InvalidAction::new("kind", error.to_string())),
        Some(_) => Err(InvalidAction::new("kind", "expected a string")),
    }
}

/// The first field of `object` that breaks its kind's shape.
fn check_fields(object: &Map<String, Value>) -> Result<(), InvalidAction> {
    let spec = kind_of(object)?.spec();
    if let Some(unknown) = object
        .keys()
        .find(|key| *key != "kind" && spec.field(key).is_none())
    {
        let known: Vec<&str> = spec.fields.iter().map(|field| field.name).collect();
        return Err(InvalidAction::new(
            unknown.clone(),
            format!(
                "not a field of kind {} (fields: {})",
                spec.name,
                known.join(", ")
            ),
        ));
    }
    for field in spec.fields {
        match object.get(field.name) {
            None if field.required() => return Err(InvalidAction::new(field.name, "missing")),
            None => {}
            Some(value) => (field.check)(value).map_err(|(inner, message)| {
                InvalidAction::new(format!("{}{inner}", field.name), message)
            })?,
        }
    }
    Ok(())
}
