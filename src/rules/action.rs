//! Action templates: the `[[rules.actions]]` tables compiled into templates,
//! field by field as the action vocabulary describes each kind, and their
//! rendering for one event, where every value is coerced to its field's
//! type (post ids → integers) and the action is built and checked by the
//! vocabulary's own parser.

use std::collections::BTreeMap;

use minijinja::value::Value;
use toml::Table;

use super::render::{Item, RenderError, flatten, post_ids, single_string, strings};
use crate::action::{Action, ActionKind, FieldSpec, KindSpec, Shape};
use crate::job::TargetId;
use crate::template::{compile_template, is_template};

/// A compile error of an action table: the key at fault and why.
pub type CompileError = (String, String);

/// How one field's value is given.
enum FieldTemplate {
    Flag(bool),
    Items(Vec<Item>),
    One(Item),
    Params(BTreeMap<String, Item>),
}

/// A compiled `[[rules.actions]]` entry.
pub struct ActionTemplate {
    /// The target id.
    pub target: TargetId,
    kind: ActionKind,
    fields: Vec<(&'static FieldSpec, FieldTemplate)>,
}

impl ActionTemplate {
    /// The action kind this template makes.
    pub fn kind(&self) -> ActionKind {
        self.kind
    }

    /// Whether every value is literal, so the action is known at load.
    pub fn is_literal(&self) -> bool {
        self.fields.iter().all(|(_, field)| match field {
            FieldTemplate::Flag(_) => true,
            FieldTemplate::Items(items) => items.iter().all(Item::is_literal),
            FieldTemplate::One(item) => item.is_literal(),
            FieldTemplate::Params(params) => params.values().all(Item::is_literal),
        })
    }

    /// Compiles an action table.
    pub fn compile(mut table: Table) -> Result<ActionTemplate, CompileError> {
        let target = match table.remove("target") {
            Some(toml::Value::String(target)) => {
                TargetId::new(&target).map_err(|e| ("target".to_string(), e.to_string()))?
            }
            Some(_) => return Err(("target".into(), "expected a target id (a string)".into())),
            None => return Err(("target".into(), "missing; name a [targets.<id>]".into())),
        };
        let kind = kind_of(&mut table)?;
        let spec = kind.spec();
        if spec.marker_is_flag() {
            match table.remove(spec.rule_marker) {
                None | Some(toml::Value::Boolean(true)) => {}
                Some(_) => {
                    let marker = spec.rule_marker;
                    return Err((marker.into(), format!("expected `{marker} = true`")));
                }
            }
        }
        let fields = spec
            .fields
            .iter()
            .filter_map(|field| compile_field(field, table.remove(field.rule_key)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = table.keys().next() {
            return Err((unknown.clone(), format!("unknown key for a {kind} action")));
        }
        Ok(ActionTemplate {
            target,
            kind,
            fields,
        })
    }

    /// Renders the action for one event. `Ok(None)` when the templates
    /// produced nothing to purge (e.g. a push that changed no content file).
    pub fn render(&self, ctx: &Value) -> Result<Option<Action>, RenderError> {
        let mut object = serde_json::Map::new();
        object.insert("kind".into(), self.kind.as_str().into());
        for (spec, field) in &self.fields {
            let Some(value) = render_field(spec, field, ctx)? else {
                return Ok(None);
            };
            object.insert(spec.name.into(), value);
        }
        Action::from_object(object)
            .map(Some)
            .map_err(RenderError::Invalid)
    }
}

/// The kind a table names: by its explicit `kind`, and by the one marker
/// key it has (`urls`, `title`, `everything = true`…).
fn kind_of(table: &mut Table) -> Result<ActionKind, CompileError> {
    let explicit = match table.remove("kind") {
        Some(toml::Value::String(kind)) => Some(
            kind.parse::<ActionKind>()
                .map_err(|e| ("kind".to_string(), e.to_string()))?,
        ),
        Some(_) => return Err(("kind".into(), "expected a string".into())),
        None => None,
    };
    let present: Vec<&KindSpec> = ActionKind::ALL
        .iter()
        .map(|kind| kind.spec())
        .filter(|spec| table.contains_key(spec.rule_marker))
        .collect();
    match (explicit, present.as_slice()) {
        (Some(kind), []) if kind.spec().marker_is_flag() => Ok(kind),
        (Some(kind), [found]) if found.name == kind.as_str() => Ok(kind),
        (None, [found]) => found
            .name
            .parse()
            .map_err(|e: crate::action::UnknownKind| (String::new(), e.to_string())),
        (_, []) => {
            let markers: Vec<&str> = ActionKind::ALL
                .iter()
                .map(|kind| kind.spec().rule_marker)
                .collect();
            Err((
                String::new(),
                format!("no purge given; use one of {}", markers.join(", ")),
            ))
        }
        (_, many) => {
            let keys: Vec<&str> = many.iter().map(|spec| spec.rule_marker).collect();
            Err((
                String::new(),
                format!(
                    "an action has exactly one kind; found {}",
                    keys.join(" and ")
                ),
            ))
        }
    }
}

fn compile_field(
    spec: &'static FieldSpec,
    value: Option<toml::Value>,
) -> Result<Option<(&'static FieldSpec, FieldTemplate)>, CompileError> {
    let key = spec.rule_key;
    let template = match (spec.shape, value) {
        (_, None) if spec.required() => return Err((key.into(), "missing".into())),
        (_, None) => return Ok(None),
        (Shape::Flag, Some(toml::Value::Boolean(flag))) => FieldTemplate::Flag(flag),
        (Shape::Flag, Some(_)) => return Err((key.into(), "expected true or false".into())),
        (Shape::Texts | Shape::Ids, Some(toml::Value::Array(values))) => FieldTemplate::Items(
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| item(&format!("{key}[{i}]"), v))
                .collect::<Result<_, _>>()?,
        ),
        (Shape::Texts | Shape::Ids, Some(text @ toml::Value::String(_))) => {
            FieldTemplate::Items(vec![item(key, text)?])
        }
        (Shape::Texts | Shape::Ids, Some(_)) => {
            return Err((key.into(), "expected a list of values or templates".into()));
        }
        (Shape::Text, Some(value)) => FieldTemplate::One(item(key, value)?),
        (Shape::Params, Some(toml::Value::Table(params))) => FieldTemplate::Params(
            params
                .into_iter()
                .map(|(k, v)| Ok((k.clone(), item(&format!("{key}.{k}"), v)?)))
                .collect::<Result<_, CompileError>>()?,
        ),
        (Shape::Params, Some(_)) => return Err((key.into(), "expected a table".into())),
    };
    Ok(Some((spec, template)))
}

fn item(key: &str, value: toml::Value) -> Result<Item, CompileError> {
    Ok(match value {
        toml::Value::String(text) if is_template(&text) => {
            Item::Template(compile_template(&text).map_err(|e| (key.to_string(), e.to_string()))?)
        }
        toml::Value::String(text) => Item::Literal(Value::from(text)),
        toml::Value::Integer(n) => Item::Literal(Value::from(n)),
        toml::Value::Boolean(b) => Item::Literal(Value::from(b)),
        toml::Value::Float(f) => Item::Literal(Value::from(f)),
        other => Item::Literal(Value::from_serialize(&other)),
    })
}

/// One field's JSON value for this event; `None` when it produced nothing
/// to purge.
fn render_field(
    spec: &FieldSpec,
    field: &FieldTemplate,
    ctx: &Value,
) -> Result<Option<serde_json::Value>, RenderError> {
    let key = spec.rule_key;
    Ok(match field {
        FieldTemplate::Flag(flag) => Some((*flag).into()),
        FieldTemplate::Items(items) => {
            let values = flatten(items, ctx, key)?;
            if values.is_empty() {
                return Ok(None);
            }
            Some(match spec.shape {
                Shape::Ids => post_ids(values)?.into(),
                _ => strings(values, key)?.into(),
            })
        }
        FieldTemplate::One(item) => single_string(item, ctx, key)?.map(serde_json::Value::from),
        FieldTemplate::Params(params) => {
            let mut rendered = serde_json::Map::new();
            for (name, param) in params {
                let value = param.evaluate(ctx, &format!("{key}.{name}"))?;
                if !value.is_undefined() {
                    let json = serde_json::to_value(&value).map_err(|e| RenderError::Evaluate {
                        key: format!("{key}.{name}"),
                        message: e.to_string(),
                    })?;
                    rendered.insert(name.clone(), json);
                }
            }
            Some(rendered.into())
        }
    })
}
