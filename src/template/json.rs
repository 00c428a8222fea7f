//! A parsed JSON document seen by templates without being converted:
//! [`lazy_json`] wraps it in a minijinja object that converts only the values an
//! expression reaches (`payload.repository.name` converts one string, not
//! the whole payload). It behaves as `Value::from_serialize` of the same
//! document: objects are maps iterated in sorted key order, arrays are
//! sequences, numbers keep their integer or float type, `null` is none.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

/// The document `root` as a template value.
pub fn lazy_json(root: &Arc<serde_json::Value>) -> Value {
    node(root, Vec::new())
}

/// One step from a container to its member.
#[derive(Debug, Clone)]
enum Step {
    Key(Arc<str>),
    Index(usize),
}

/// A container in the document: the document and the steps to it.
#[derive(Debug)]
struct Node {
    root: Arc<serde_json::Value>,
    path: Vec<Step>,
    is_array: bool,
}

impl Node {
    /// The JSON value this node stands for.
    fn target(&self) -> &serde_json::Value {
        let mut value = &*self.root;
        for step in &self.path {
            // Nodes are only made for steps that exist: the document does
            // not change, so every step resolves.
            value = match step {
                Step::Key(key) => &value[&**key],
                Step::Index(index) => &value[*index],
            };
        }
        value
    }

    fn child(&self, step: Step) -> Value {
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend(self.path.iter().cloned());
        path.push(step);
        node(&self.root, path)
    }

    fn member(self: &Arc<Self>, value: &serde_json::Value, step: impl FnOnce() -> Step) -> Value {
        match value {
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => self.child(step()),
            scalar => convert_scalar(scalar),
        }
    }

    /// The object's keys, sorted as minijinja sorts a map's keys.
    fn sorted_keys(map: &serde_json::Map<String, serde_json::Value>) -> Vec<Value> {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_unstable();
        keys.into_iter()
            .map(|key| Value::from(key.as_str()))
            .collect()
    }
}

fn node(root: &Arc<serde_json::Value>, path: Vec<Step>) -> Value {
    let mut node = Node {
        root: root.clone(),
        path,
        is_array: false,
    };
    match node.target() {
        serde_json::Value::Object(_) => Value::from_object(node),
        serde_json::Value::Array(_) => {
            node.is_array = true;
            Value::from_object(node)
        }
        scalar => convert_scalar(scalar),
    }
}

fn convert_scalar(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                Value::from(n)
            } else if let Some(n) = n.as_i64() {
                Value::from(n)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        // Containers are nodes; never reached.
        other => Value::from_serialize(other),
    }
}

impl Object for Node {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        if self.is_array {
            ObjectRepr::Seq
        } else {
            ObjectRepr::Map
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.target() {
            serde_json::Value::Object(map) => {
                let (key, value) = map.get_key_value(key.as_str()?)?;
                Some(self.member(value, || Step::Key(Arc::from(key.as_str()))))
            }
            serde_json::Value::Array(items) => {
                let index = key.as_usize()?;
                Some(self.member(items.get(index)?, || Step::Index(index)))
            }
            _ => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let serde_json::Value::Object(map) = self.target() else {
            return None;
        };
        let (key, value) = map.get_key_value(key)?;
        Some(self.member(value, || Step::Key(Arc::from(key.as_str()))))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.target() {
            serde_json::Value::Object(map) => Enumerator::Values(Node::sorted_keys(map)),
            serde_json::Value::Array(items) => Enumerator::Seq(items.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.target() {
            serde_json::Value::Object(map) => Some(map.len()),
            serde_json::Value::Array(items) => Some(items.len()),
            _ => Some(0),
        }
    }
}
