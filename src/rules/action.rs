//! Action templates: the `[[rules.actions]]` tables compiled into typed
//! templates, and their rendering for one event, where every value is
//! coerced to its kind's type (post ids → integers, URLs → absolute URLs).

use std::collections::BTreeMap;

use minijinja::value::{Value, ValueKind};
use toml::Table;

use super::expressions::{Compiled, compile_template, describe};
use crate::job::{Action, ActionKind};

/// The keys that name an action's kind, and the kind they name.
const KIND_KEYS: [(&str, ActionKind); 8] = [
    ("everything", ActionKind::Everything),
    ("urls", ActionKind::Urls),
    ("prefixes", ActionKind::Prefixes),
    ("tags", ActionKind::Tags),
    ("post_ids", ActionKind::PostIds),
    ("scopes", ActionKind::Scopes),
    ("title", ActionKind::Resource),
    ("command", ActionKind::Command),
];

/// One value: a literal from the file, or a compiled template.
enum Item {
    Literal(Value),
    Template(Compiled),
}

/// A compiled `[[rules.actions]]` entry.
pub struct ActionTemplate {
    /// The target id.
    pub target: String,
    shape: Shape,
}

enum Shape {
    Everything {
        full: bool,
    },
    List {
        kind: ActionKind,
        items: Vec<Item>,
        flag: bool,
    },
    Resource {
        title: Item,
        params: BTreeMap<String, Item>,
    },
    Command(Item),
}

/// A failure to turn an action template into an action for one event.
pub type RenderError = String;

impl ActionTemplate {
    /// The action kind this template makes.
    pub fn kind(&self) -> ActionKind {
        match &self.shape {
            Shape::Everything { .. } => ActionKind::Everything,
            Shape::List { kind, .. } => *kind,
            Shape::Resource { .. } => ActionKind::Resource,
            Shape::Command(_) => ActionKind::Command,
        }
    }

    /// Compiles an action table. Errors are `(key, message)`.
    pub fn compile(
        env: &'static minijinja::Environment<'static>,
        mut table: Table,
    ) -> Result<ActionTemplate, (String, String)> {
        let target = match table.remove("target") {
            Some(toml::Value::String(target)) => target,
            Some(_) => return Err(("target".into(), "expected a target id (a string)".into())),
            None => return Err(("target".into(), "missing; name a [targets.<id>]".into())),
        };
        let explicit = match table.remove("kind") {
            Some(toml::Value::String(kind)) => Some(
                KIND_KEYS
                    .iter()
                    .map(|(_, k)| *k)
                    .find(|k| k.as_str() == kind)
                    .ok_or_else(|| ("kind".to_string(), format!("unknown action kind {kind:?}")))?,
            ),
            Some(_) => return Err(("kind".into(), "expected a string".into())),
            None => None,
        };
        let present: Vec<(&str, ActionKind)> = KIND_KEYS
            .iter()
            .copied()
            .filter(|(key, _)| table.contains_key(*key))
            .collect();
        let kind = match (explicit, present.as_slice()) {
            (Some(kind), _) if kind == ActionKind::Everything && present.is_empty() => kind,
            (Some(kind), [(_, found)]) if *found == kind => kind,
            (None, [(_, found)]) => *found,
            (_, []) => {
                return Err((
                    String::new(),
                    format!(
                        "no purge given; use one of {}",
                        KIND_KEYS.map(|(k, _)| k).join(", ")
                    ),
                ));
            }
            (_, many) => {
                return Err((
                    String::new(),
                    format!(
                        "an action has exactly one kind; found {}",
                        many.iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                ));
            }
        };
        let shape = match kind {
            ActionKind::Everything => {
                match table.remove("everything") {
                    None | Some(toml::Value::Boolean(true)) => {}
                    Some(_) => {
                        return Err(("everything".into(), "expected `everything = true`".into()));
                    }
                }
                let full = match table.remove("full") {
                    None => false,
                    Some(toml::Value::Boolean(full)) => full,
                    Some(_) => return Err(("full".into(), "expected true or false".into())),
                };
                Shape::Everything { full }
            }
            ActionKind::Resource => {
                let title = item(env, "title", table.remove("title"))?;
                let params = match table.remove("params") {
                    None => BTreeMap::new(),
                    Some(toml::Value::Table(params)) => params
                        .into_iter()
                        .map(|(k, v)| {
                            let compiled = item(env, &format!("params.{k}"), Some(v))?;
                            Ok((k, compiled))
                        })
                        .collect::<Result<_, (String, String)>>()?,
                    Some(_) => return Err(("params".into(), "expected a table".into())),
                };
                Shape::Resource { title, params }
            }
            ActionKind::Command => Shape::Command(item(env, "command", table.remove("command"))?),
            list_kind => {
                let key = list_kind.as_str();
                let items = match table.remove(key) {
                    Some(toml::Value::Array(values)) => values
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| item(env, &format!("{key}[{i}]"), Some(v)))
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(toml::Value::String(text)) => {
                        vec![item(env, key, Some(toml::Value::String(text)))?]
                    }
                    _ => return Err((key.into(), "expected a list of values or templates".into())),
                };
                let flag_key = match list_kind {
                    ActionKind::PostIds => Some("related"),
                    ActionKind::Scopes => Some("full"),
                    _ => None,
                };
                let flag = match flag_key.and_then(|k| table.remove(k).map(|v| (k, v))) {
                    None => false,
                    Some((_, toml::Value::Boolean(flag))) => flag,
                    Some((k, _)) => return Err((k.into(), "expected true or false".into())),
                };
                Shape::List {
                    kind: list_kind,
                    items,
                    flag,
                }
            }
        };
        if let Some(unknown) = table.keys().next() {
            return Err((unknown.clone(), format!("unknown key for a {kind} action")));
        }
        Ok(ActionTemplate { target, shape })
    }

    /// Renders the action for one event. `Ok(None)` when the templates
    /// produced nothing to purge (e.g. a push that changed no content file).
    pub fn render(&self, ctx: &Value) -> Result<Option<Action>, RenderError> {
        Ok(match &self.shape {
            Shape::Everything { full } => Some(Action::Everything { full: *full }),
            Shape::Command(name) => {
                single_string(name, ctx, "command")?.map(|name| Action::Command { name })
            }
            Shape::Resource { title, params } => {
                let Some(title) = single_string(title, ctx, "title")? else {
                    return Ok(None);
                };
                let mut rendered = BTreeMap::new();
                for (key, param) in params {
                    let value = evaluate(param, ctx, &format!("params.{key}"))?;
                    if !value.is_undefined() {
                        let json = serde_json::to_value(&value)
                            .map_err(|e| format!("params.{key}: {e}"))?;
                        rendered.insert(key.clone(), json);
                    }
                }
                Some(Action::Resource {
                    title,
                    params: rendered,
                })
            }
            Shape::List { kind, items, flag } => {
                let values = flatten(items, ctx, kind.as_str())?;
                if values.is_empty() {
                    return Ok(None);
                }
                Some(list_action(*kind, values, *flag)?)
            }
        })
    }
}

fn item(
    env: &'static minijinja::Environment<'static>,
    key: &str,
    value: Option<toml::Value>,
) -> Result<Item, (String, String)> {
    match value {
        Some(toml::Value::String(text)) if text.contains("{{") || text.contains("{%") => {
            compile_template(env, &text)
                .map(Item::Template)
                .map_err(|e| (key.into(), e))
        }
        Some(toml::Value::String(text)) => Ok(Item::Literal(Value::from(text))),
        Some(toml::Value::Integer(n)) => Ok(Item::Literal(Value::from(n))),
        Some(toml::Value::Boolean(b)) => Ok(Item::Literal(Value::from(b))),
        Some(toml::Value::Float(f)) => Ok(Item::Literal(Value::from(f))),
        Some(other) => Ok(Item::Literal(Value::from_serialize(&other))),
        None => Err((key.into(), "missing".into())),
    }
}

fn evaluate(item: &Item, ctx: &Value, key: &str) -> Result<Value, RenderError> {
    match item {
        Item::Literal(value) => Ok(value.clone()),
        Item::Template(expression) => expression
            .eval(ctx.clone())
            .map_err(|e| format!("{key}: {}", describe(&e))),
    }
}

fn is_nothing(value: &Value) -> bool {
    value.is_undefined() || value.is_none() || value.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Evaluates every item, flattening lists and dropping empty values.
fn flatten(items: &[Item], ctx: &Value, key: &str) -> Result<Vec<Value>, RenderError> {
    let mut values = Vec::new();
    for item in items {
        let value = evaluate(item, ctx, key)?;
        if matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
            let inner = value
                .try_iter()
                .map_err(|e| format!("{key}: {}", describe(&e)))?;
            values.extend(inner.filter(|v| !is_nothing(v)));
        } else if !is_nothing(&value) {
            values.push(value);
        }
    }
    Ok(values)
}

fn single_string(item: &Item, ctx: &Value, key: &str) -> Result<Option<String>, RenderError> {
    let value = evaluate(item, ctx, key)?;
    if is_nothing(&value) {
        return Ok(None);
    }
    Ok(Some(value.to_string().trim().to_string()))
}

fn list_action(kind: ActionKind, values: Vec<Value>, flag: bool) -> Result<Action, RenderError> {
    let key = kind.as_str();
    if kind == ActionKind::PostIds {
        let mut ids = Vec::new();
        for value in values {
            let id = to_post_id(&value).ok_or_else(|| {
                format!("post_ids: {value} is not a post id (a positive integer)")
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        return Ok(Action::PostIds {
            post_ids: ids,
            related: flag,
        });
    }
    let mut strings: Vec<String> = Vec::new();
    for value in values {
        let text = match value.kind() {
            ValueKind::String | ValueKind::Number => value.to_string().trim().to_string(),
            other => return Err(format!("{key}: expected strings, got a {other} ({value})")),
        };
        if !strings.contains(&text) {
            strings.push(text);
        }
    }
    Ok(match kind {
        ActionKind::Urls => Action::Urls { urls: strings },
        ActionKind::Prefixes => Action::Prefixes { prefixes: strings },
        ActionKind::Tags => Action::Tags { tags: strings },
        _ => Action::Scopes {
            scopes: strings,
            full: flag,
        },
    })
}

fn to_post_id(value: &Value) -> Option<u64> {
    let id = if let Some(text) = value.as_str() {
        text.trim().parse::<u64>().ok()?
    } else if value.kind() == ValueKind::Number {
        u64::try_from(value.clone()).ok()?
    } else {
        return None;
    };
    (id > 0).then_some(id)
}
