//! A webhook's JSON body kept as text: [`Payload`] is checked once, as
//! strictly as parsing it into a `serde_json::Value` would (the same errors,
//! without building anything), and is then read lazily — templates see it
//! through [`Payload::template_value`], which indexes only the containers an
//! expression reaches; [`Payload::value`] parses the whole document, once,
//! for the rare code that needs it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use minijinja::value::Value;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json;

/// A JSON document: its text, shared, and what was derived from it.
#[derive(Clone)]
pub struct Payload(Arc<Inner>);

struct Inner {
    text: Arc<str>,
    /// The template value of the document, made on first use.
    root: OnceLock<Value>,
    /// The whole document, parsed on first use.
    parsed: OnceLock<serde_json::Value>,
}

impl Payload {
    /// The document `bytes`, refused exactly when
    /// `serde_json::from_slice::<serde_json::Value>` would refuse it, with
    /// the same error.
    pub fn parse(bytes: &[u8]) -> Result<Payload, serde_json::Error> {
        serde_json::from_slice::<Strict>(bytes)?;
        // Valid JSON is valid UTF-8: the check above read every string.
        let text = std::str::from_utf8(bytes).map_err(serde::de::Error::custom)?;
        Ok(Payload::new(Arc::from(text), OnceLock::new()))
    }

    /// The document `text`, as [`Payload::parse`].
    pub fn parse_str(text: &str) -> Result<Payload, serde_json::Error> {
        Payload::parse(text.as_bytes())
    }

    /// A document already parsed (a form's fields, an edited body).
    pub fn from_value(value: serde_json::Value) -> Payload {
        // Serializing a `Value` cannot fail: its keys are strings.
        let text = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
        Payload::new(Arc::from(text), OnceLock::from(value))
    }

    fn new(text: Arc<str>, parsed: OnceLock<serde_json::Value>) -> Payload {
        Payload(Arc::new(Inner {
            text,
            root: OnceLock::new(),
            parsed,
        }))
    }

    /// The document's text, as received.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// The document as templates see it: as `Value::from_serialize` of the
    /// parsed document would be, converting only what is reached.
    pub fn template_value(&self) -> Value {
        self.0
            .root
            .get_or_init(|| json::document(&self.0.text))
            .clone()
    }

    /// A top-level string field (`None` when the document is not an
    /// object, lacks the field, or it is not a string).
    pub fn top_level_str(&self, key: &str) -> Option<String> {
        let value = self.template_value().get_attr(key).ok()?;
        value.as_str().map(str::to_string)
    }

    /// The whole document, parsed on first use.
    pub fn value(&self) -> &serde_json::Value {
        self.0.parsed.get_or_init(|| parse_checked(&self.0.text))
    }

    /// Whether [`Payload::value`] has parsed the whole document.
    #[cfg(test)]
    pub fn is_parsed(&self) -> bool {
        self.0.parsed.get().is_some()
    }

    /// The whole document, to edit.
    pub fn into_value(self) -> serde_json::Value {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => inner
                .parsed
                .into_inner()
                .unwrap_or_else(|| parse_checked(&inner.text)),
            Err(shared) => Payload(shared).value().clone(),
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Payload").field(&self.text()).finish()
    }
}

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// The document `text`, checked when the payload was made.
fn parse_checked(text: &str) -> serde_json::Value {
    // The same parser accepted it; it parses.
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// A JSON value read as strictly as a `serde_json::Value` is (strings
/// decoded, numbers converted, the same nesting limit), and dropped.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
    }
}
