//! A webhook's JSON body kept as text: [`Payload`] is checked once, as
//! strictly as parsing it into a `serde_json::Value` would (the same errors,
//! without building anything), and is then read lazily — templates see it
//! through [`Payload::template_value`], which indexes only the containers an
//! expression reaches; [`Payload::value`] parses the whole document, once,
//! for the rare code that needs it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use minijinja::value::Value;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

use super::json::{self, KeyText};

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
        // As `serde_json::from_slice` reads.
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let members = Root { text: bytes }.deserialize(&mut deserializer)?;
        deserializer.end()?;
        // Valid JSON is valid UTF-8: the check above read every string.
        let text: Arc<str> = Arc::from(std::str::from_utf8(bytes).map_err(Error::custom)?);
        let root = OnceLock::from(json::document(&text, members));
        Ok(Payload::new(text, root, OnceLock::new()))
    }

    /// The document `text`, as [`Payload::parse`].
    pub fn parse_str(text: &str) -> Result<Payload, serde_json::Error> {
        Payload::parse(text.as_bytes())
    }

    /// A document already parsed (a form's fields, an edited body).
    pub fn from_value(value: serde_json::Value) -> Payload {
        // `Value`'s display is its compact JSON.
        let text = value.to_string();
        Payload::new(Arc::from(text), OnceLock::new(), OnceLock::from(value))
    }

    fn new(text: Arc<str>, root: OnceLock<Value>, parsed: OnceLock<serde_json::Value>) -> Payload {
        Payload(Arc::new(Inner { text, root, parsed }))
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
            .get_or_init(|| json::document(&self.0.text, None))
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

/// The keys of an object and the byte ranges of their values.
type Members = Vec<(Box<str>, Range<usize>)>;

/// The document `text`, checked as [`Strict`] checks it; when it is an
/// object whose keys are not escaped, its members are located on the way
/// (from where each key is), so that reading the top level later does not
/// read the whole text again.
struct Root<'de> {
    text: &'de [u8],
}

impl Root<'_> {
    /// Where the value starts, given where its key's closing quote ends.
    fn value_start(&self, mut at: usize) -> usize {
        let is_space = |at: usize| self.text.get(at).is_some_and(|b| b" \t\n\r:".contains(b));
        while is_space(at) {
            at += 1;
        }
        at
    }

    /// Where the value ends, given where what follows it (the next key's
    /// opening quote, or the closing brace) is.
    fn value_end(&self, mut at: usize) -> usize {
        let before = |at: usize, set: &[u8]| at > 0 && set.contains(&self.text[at - 1]);
        while before(at, b" \t\n\r") {
            at -= 1;
        }
        if before(at, b",") {
            at -= 1;
        }
        while before(at, b" \t\n\r") {
            at -= 1;
        }
        at
    }
}

impl<'de> DeserializeSeed<'de> for Root<'de> {
    type Value = Option<Members>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Root<'de> {
    type Value = Option<Members>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Some(Vec::new());
        // The previous key, and where its value starts.
        let mut open: Option<(&str, usize)> = None;
        while let Some(KeyText(key)) = map.next_key::<KeyText<'de>>()? {
            map.next_value::<Strict>()?;
            let (Some(located), Cow::Borrowed(key)) = (&mut members, key) else {
                // An escaped key is not where its text is: not located.
                members = None;
                continue;
            };
            let at = key.as_ptr() as usize - self.text.as_ptr() as usize;
            if let Some((previous, start)) = open {
                located.push((previous.into(), start..self.value_end(at - 1)));
            }
            open = Some((key, self.value_start(at + key.len() + 1)));
        }
        if let (Some(located), Some((previous, start))) = (&mut members, open) {
            // The root object's closing brace ends the text (or the text
            // is refused after this).
            let close = self.text.trim_ascii_end().len().saturating_sub(1);
            located.push((previous.into(), start..self.value_end(close).max(start)));
        }
        Ok(members)
    }
}
