//! Rendering the values of an action template for one event: literals and
//! compiled expressions, lists flattened, nothing-values dropped, strings
//! and post ids coerced — each failure a [`RenderError`] that names the key
//! and the value.

use minijinja::value::{Value, ValueKind};

use crate::action::InvalidAction;
use crate::template::{Compiled, TemplateError};

/// One value: a literal from the file, or a compiled template.
pub enum Item {
    /// A value given as is.
    Literal(Value),
    /// A template, evaluated per event.
    Template(Compiled),
}

impl Item {
    /// Whether the value is known without an event.
    pub fn is_literal(&self) -> bool {
        matches!(self, Item::Literal(_))
    }

    /// The value for the event `ctx`.
    pub fn evaluate(&self, ctx: &Value, key: &str) -> Result<Value, RenderError> {
        match self {
            Item::Literal(value) => Ok(value.clone()),
            Item::Template(expression) => {
                expression
                    .eval(ctx.clone())
                    .map_err(|e| RenderError::Evaluate {
                        key: key.to_string(),
                        message: TemplateError::from(e).to_string(),
                    })
            }
        }
    }
}

/// Why an action template could not make an action from an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A template failed to evaluate.
    #[error("{key}: {message}")]
    Evaluate {
        /// The key of the value.
        key: String,
        /// minijinja's description.
        message: String,
    },
    /// A post id that is not a positive integer.
    #[error("post_ids: {0} is not a post id (a positive integer)")]
    NotAPostId(String),
    /// A list item that is not a string (or number).
    #[error("{key}: expected strings, got a {kind} ({value})")]
    NotAString {
        /// The key of the list.
        key: String,
        /// What the item is.
        kind: String,
        /// The item.
        value: String,
    },
    /// The action made breaks the vocabulary's rules.
    #[error(transparent)]
    Invalid(InvalidAction),
}

fn is_nothing(value: &Value) -> bool {
    value.is_undefined() || value.is_none() || value.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Evaluates every item, flattening lists and dropping empty values.
pub fn flatten(items: &[Item], ctx: &Value, key: &str) -> Result<Vec<Value>, RenderError> {
    let mut values = Vec::new();
    for item in items {
        let value = item.evaluate(ctx, key)?;
        if matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
            let inner = value.try_iter().map_err(|e| RenderError::Evaluate {
                key: key.to_string(),
                message: TemplateError::from(e).to_string(),
            })?;
            values.extend(inner.filter(|v| !is_nothing(v)));
        } else if !is_nothing(&value) {
            values.push(value);
        }
    }
    Ok(values)
}

/// A single string value; `None` when the template produced nothing.
pub fn single_string(item: &Item, ctx: &Value, key: &str) -> Result<Option<String>, RenderError> {
    let value = item.evaluate(ctx, key)?;
    if is_nothing(&value) {
        return Ok(None);
    }
    Ok(Some(value.to_string().trim().to_string()))
}

/// The values as strings, each once, in order.
pub fn strings(values: Vec<Value>, key: &str) -> Result<Vec<String>, RenderError> {
    let mut strings: Vec<String> = Vec::new();
    for value in values {
        let text = match value.kind() {
            ValueKind::String | ValueKind::Number => value.to_string().trim().to_string(),
            other => {
                return Err(RenderError::NotAString {
                    key: key.to_string(),
                    kind: other.to_string(),
                    value: value.to_string(),
                });
            }
        };
        if !strings.contains(&text) {
            strings.push(text);
        }
    }
    Ok(strings)
}

/// The values as post ids (strings of digits are converted), each once.
pub fn post_ids(values: Vec<Value>) -> Result<Vec<u64>, RenderError> {
    let mut ids = Vec::new();
    for value in values {
        let id = to_post_id(&value).ok_or_else(|| RenderError::NotAPostId(value.to_string()))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
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
