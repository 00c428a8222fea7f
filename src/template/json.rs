//! A JSON document's text seen by templates without parsing it whole:
//! [`document`] makes a minijinja value whose containers are indexed on
//! first access — one level of their text is read for the members' byte
//! ranges, and kept — and whose scalars are converted when reached
//! (`payload.after` reads the top level and one string, not the whole
//! payload). It behaves as `Value::from_serialize` of the parsed document:
//! objects are maps iterated in sorted key order (a repeated key keeps its
//! last value, as `serde_json` does), arrays are sequences, numbers keep
//! their integer or float type, `null` is none.
//!
//! The text must be valid JSON ([`super::Payload`] checks it): a container
//! that does not parse, which cannot happen, is seen as empty.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The valid JSON document `text` as a template value; `members`, when
/// known, are the keys and value ranges of the object it is.
pub(super) fn document(text: &Arc<str>, members: Option<Vec<(Box<str>, Range<usize>)>>) -> Value {
    let start = text.len() - text.trim_start().len();
    let end = text.trim_end().len();
    let Some(members) = members.filter(|_| text.as_bytes().get(start) == Some(&b'{')) else {
        return convert(text, start..end.max(start));
    };
    Value::from_object(Node {
        text: text.clone(),
        range: start..end,
        is_array: false,
        index: OnceLock::from(object_index(members)),
    })
}

/// An object's index: sorted by key; of a repeated key, the last value.
fn object_index(mut members: Vec<(Box<str>, Range<usize>)>) -> Index {
    // A stable sort: repeated keys stay in the text's order.
    members.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut unique: Vec<(Box<str>, Member)> = Vec::with_capacity(members.len());
    for (key, range) in members {
        match unique.last_mut() {
            Some(last) if last.0 == key => last.1 = Member::new(range),
            _ => unique.push((key, Member::new(range))),
        }
    }
    Index::Object(unique)
}

/// A container of the document: where its text is, and its members once
/// indexed.
pub(super) struct Node {
    text: Arc<str>,
    range: Range<usize>,
    is_array: bool,
    index: OnceLock<Index>,
}

/// A container's members, each converted on first access.
enum Index {
    /// An object's members by key, sorted by key, each key once.
    Object(Vec<(Box<str>, Member)>),
    /// An array's items, in order.
    Array(Vec<Member>),
}

/// A member's text and, once reached, its template value.
struct Member {
    range: Range<usize>,
    value: OnceLock<Value>,
}

impl Member {
    fn new(range: Range<usize>) -> Member {
        Member {
            range,
            value: OnceLock::new(),
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text[self.range.clone()])
    }
}

/// The value whose (trimmed) text is `text[range]`.
fn convert(text: &Arc<str>, range: Range<usize>) -> Value {
    let is_array = match text.as_bytes().get(range.start) {
        Some(b'{') => false,
        Some(b'[') => true,
        _ => return scalar(&text[range]),
    };
    Value::from_object(Node {
        text: text.clone(),
        range,
        is_array,
        index: OnceLock::new(),
    })
}

/// The scalar written `text`, converted as `Value::from_serialize` converts
/// a parsed `serde_json::Value`.
fn scalar(text: &str) -> Value {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer
        .deserialize_any(ScalarVisitor)
        .unwrap_or(Value::UNDEFINED)
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON scalar")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        // `serde_json::Number` keeps a non-negative integer as unsigned.
        Ok(u64::try_from(v).map_or_else(|_| Value::from(v), Value::from))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::from(()))
    }
}

impl Node {
    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let text = &self.text[self.range.clone()];
            let base = self.range.start;
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let level = LevelVisitor { base, text };
            let members = if self.is_array {
                deserializer.deserialize_seq(level)
            } else {
                deserializer.deserialize_map(level)
            };
            members.unwrap_or_else(|_| {
                if self.is_array {
                    Index::Array(Vec::new())
                } else {
                    Index::Object(Vec::new())
                }
            })
        })
    }

    fn value(&self, member: &Member) -> Value {
        member
            .value
            .get_or_init(|| convert(&self.text, member.range.clone()))
            .clone()
    }

    fn by_key(&self, key: &str) -> Option<Value> {
        let Index::Object(members) = self.index() else {
            return None;
        };
        let found = members.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(self.value(&members[found].1))
    }
}

/// The keys and texts of the members of `value`'s object, as indexed.
#[cfg(test)]
pub(super) fn member_texts(value: &Value) -> Option<Vec<(String, String)>> {
    let node = value.downcast_object_ref::<Node>()?;
    let Index::Object(members) = node.index() else {
        return None;
    };
    let text = |member: &Member| node.text[member.range.clone()].to_string();
    Some(
        members
            .iter()
            .map(|(k, m)| (k.to_string(), text(m)))
            .collect(),
    )
}

/// The byte range of `raw`, a member read from `text`, in the document.
fn range_of(raw: &RawValue, text: &str, base: usize) -> Range<usize> {
    let start = base + (raw.get().as_ptr() as usize - text.as_ptr() as usize);
    start..start + raw.get().len()
}

/// Reads one level of a container: an object's keys and the ranges of
/// their values, or an array's item ranges.
struct LevelVisitor<'a> {
    base: usize,
    text: &'a str,
}

impl<'de> Visitor<'de> for LevelVisitor<'de> {
    type Value = Index;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Index, A::Error> {
        let mut members = Vec::new();
        while let Some((key, raw)) = map.next_entry::<KeyText<'de>, &'de RawValue>()? {
            members.push((key.0.into(), range_of(raw, self.text, self.base)));
        }
        Ok(object_index(members))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Index, A::Error> {
        let mut items = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            items.push(Member::new(range_of(raw, self.text, self.base)));
        }
        Ok(Index::Array(items))
    }
}

/// An object key, decoded: borrowed from the text unless escaped.
pub(super) struct KeyText<'a>(pub(super) std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(v.to_string().into()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
        match self.index() {
            Index::Object(_) => self.by_key(key.as_str()?),
            Index::Array(items) => Some(self.value(items.get(key.as_usize()?)?)),
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.by_key(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.index() {
            Index::Object(members) => {
                Enumerator::Values(members.iter().map(|(key, _)| Value::from(&**key)).collect())
            }
            Index::Array(items) => Enumerator::Seq(items.len()),
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(match self.index() {
            Index::Object(members) => members.len(),
            Index::Array(items) => items.len(),
        })
    }
}
