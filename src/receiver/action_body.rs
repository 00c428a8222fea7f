//! An [`Action`] read from an API request's JSON, with errors that name the
//! field (`kind`, `urls`, `post_ids[0]`). serde buffers an internally tagged
//! enum, which loses the path of an error inside it; so when the action does
//! not parse, its fields are checked one by one against the kind's shape.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::job::{Action, InvalidAction};

/// A check of a field's type: on error, the path inside it and why.
type FieldCheck = fn(&Value) -> Result<(), (String, String)>;

/// A field of a kind: its name, whether it is required, its check.
type Field = (&'static str, bool, FieldCheck);

/// The fields of each kind.
const KINDS: &[(&str, &[Field])] = &[
    ("everything", &[("full", false, typed::<bool>)]),
    ("urls", &[("urls", true, typed::<Vec<String>>)]),
    ("prefixes", &[("prefixes", true, typed::<Vec<String>>)]),
    ("tags", &[("tags", true, typed::<Vec<String>>)]),
    (
        "post_ids",
        &[
            ("post_ids", true, typed::<Vec<u64>>),
            ("related", false, typed::<bool>),
        ],
    ),
    (
        "scopes",
        &[
            ("scopes", true, typed::<Vec<String>>),
            ("full", false, typed::<bool>),
        ],
    ),
    (
        "resource",
        &[
            ("title", true, typed::<String>),
            ("params", false, typed::<BTreeMap<String, Value>>),
        ],
    ),
    ("command", &[("name", true, typed::<String>)]),
];

/// Checks that `value` types as `T`; on error, the path inside it.
fn typed<T: DeserializeOwned>(value: &Value) -> Result<(), (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value.clone())
        .map(|_| ())
        .map_err(|error| {
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            (path, error.into_inner().to_string())
        })
}

/// Parses `value` as an action; the error names the field at fault.
pub fn parse_action(value: Value) -> Result<Action, InvalidAction> {
    let Value::Object(object) = &value else {
        return Err(InvalidAction::new("", "expected an object with a kind"));
    };
    let problem = locate(object);
    serde_json::from_value(value.clone())
        .map_err(|error| problem.unwrap_or_else(|| InvalidAction::new("", error.to_string())))
}

/// The first field of `object` that breaks its kind's shape.
fn locate(object: &Map<String, Value>) -> Option<InvalidAction> {
    let names = || {
        KINDS
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = match object.get("kind") {
        None => {
            return Some(InvalidAction::new(
                "kind",
                format!("missing; one of {}", names()),
            ));
        }
        Some(Value::String(kind)) => kind,
        Some(_) => return Some(InvalidAction::new("kind", "expected a string")),
    };
    let Some((_, fields)) = KINDS.iter().find(|(name, _)| name == kind) else {
        return Some(InvalidAction::new(
            "kind",
            format!("unknown kind {kind:?}; one of {}", names()),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| *key != "kind" && !fields.iter().any(|(name, ..)| name == key))
    {
        let known: Vec<&str> = fields.iter().map(|(name, ..)| *name).collect();
        return Some(InvalidAction::new(
            unknown.clone(),
            format!("not a field of kind {kind} (fields: {})", known.join(", ")),
        ));
    }
    for (name, required, check) in fields.iter() {
        match object.get(*name) {
            None if *required => return Some(InvalidAction::new(*name, "missing")),
            None => {}
            Some(value) => {
                if let Err((inner, message)) = check(value) {
                    return Some(InvalidAction::new(format!("{name}{inner}"), message));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(value: Value) -> String {
        parse_action(value).unwrap_err().field
    }

    #[test]
    fn errors_name_the_field_inside_the_action() {
        assert_eq!(
            field_of(json!({"kind": "post_ids", "post_ids": [1, "x"]})),
            "post_ids[1]"
        );
        assert_eq!(field_of(json!({"kind": "sideways"})), "kind");
        assert_eq!(field_of(json!({"urls": []})), "kind");
        assert_eq!(field_of(json!({"kind": "urls"})), "urls");
        assert_eq!(
            field_of(json!({"kind": "urls", "urls": "https://a/"})),
            "urls"
        );
        assert_eq!(
            field_of(json!({"kind": "tags", "tags": ["a"], "full": true})),
            "full"
        );
        assert_eq!(
            field_of(json!({"kind": "scopes", "scopes": ["a"], "full": "yes"})),
            "full"
        );
        assert_eq!(field_of(json!(["urls"])), "");
    }

    #[test]
    fn every_kind_parses() {
        for (kind, fields) in KINDS {
            let mut object = json!({"kind": kind});
            for (name, required, _) in fields.iter() {
                if *required {
                    object[*name] = match *name {
                        "post_ids" => json!([1]),
                        "title" | "name" => json!("x"),
                        _ => json!(["x"]),
                    };
                }
            }
            let action = parse_action(object).unwrap();
            assert_eq!(action.kind().as_str(), *kind);
        }
    }
}
