//! [`Fields`]: reads one TOML table key by key, typing each value with serde
//! on its own, so that every bad value, missing key and unknown key of a
//! table is reported in the same run, each at its full key path. The keys a
//! reader asks for are the table's valid keys: an unknown one is reported
//! with them all, and with the closest when one is close ("did you mean").

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::error::Problems;
use crate::secret::{Secret, SecretError};

/// A problem was found, and recorded in the [`Problems`]; the value it
/// concerns is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// The result of reading a value: it, or [`Invalid`] once recorded.
pub type Read<T> = Result<T, Invalid>;

/// A table being read.
pub struct Fields<'p> {
    table: Table,
    path: String,
    problems: &'p mut Problems,
    asked: Vec<&'static str>,
    also_valid: &'static [&'static str],
    noun: &'static str,
    invalid: bool,
}

impl<'p> Fields<'p> {
    /// Reads `table`, found at `path` (`""` for the file itself).
    pub fn new(table: Table, path: impl Into<String>, problems: &'p mut Problems) -> Fields<'p> {
        Fields {
            table,
            path: path.into(),
            problems,
            asked: Vec::new(),
            also_valid: &[],
            noun: "key",
            invalid: false,
        }
    }

    /// Reads `value`, which must be a table.
    pub fn of(value: Value, path: &str, problems: &'p mut Problems) -> Read<Fields<'p>> {
        match value {
            Value::Table(table) => Ok(Fields::new(table, path, problems)),
            other => {
                problems.at(path, format!("expected a table, got {}", type_name(&other)));
                Err(Invalid)
            }
        }
    }

    /// Keys read elsewhere that are valid here too (a target's common keys,
    /// beside its provider's), for the message about an unknown key.
    pub fn also_valid(mut self, keys: &'static [&'static str]) -> Self {
        self.also_valid = keys;
        self
    }

    /// Calls the table's keys `noun` in messages (`section` for the file's).
    pub fn calling_keys(mut self, noun: &'static str) -> Self {
        self.noun = noun;
        self
    }

    /// The path of `key` in this table.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The table's own path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The problems being collected (for nested readers).
    pub fn problems(&mut self) -> &mut Problems {
        self.problems
    }

    /// Records a problem with `key`'s value (checked by the caller).
    pub fn problem(&mut self, key: &str, message: impl Into<String>) -> Invalid {
        let path = self.path_of(key);
        self.problems.at(path, message);
        self.invalid = true;
        Invalid
    }

    /// Whether a problem was recorded at `key` (or inside it) already.
    pub fn has_problems_at(&self, key: &str) -> bool {
        self.problems.has_at(&self.path_of(key))
    }

    /// Takes `key`'s raw value, if given.
    pub fn raw(&mut self, key: &'static str) -> Option<Value> {
        self.asked.push(key);
        self.table.remove(key)
    }

    /// `key`'s value, typed, if given.
    pub fn optional<T: DeserializeOwned>(&mut self, key: &'static str) -> Read<Option<T>> {
        match self.raw(key) {
            None => Ok(None),
            Some(value) => self.typed(key, value).map(Some),
        }
    }

    /// `key`'s value, typed; `default` when absent.
    pub fn or<T: DeserializeOwned>(&mut self, key: &'static str, default: T) -> Read<T> {
        Ok(self.optional(key)?.unwrap_or(default))
    }

    /// `key`'s value, typed; `default` when absent or invalid (the problem
    /// is recorded: the configuration is refused, but reading goes on to
    /// find the others).
    pub fn value_or<T: DeserializeOwned>(&mut self, key: &'static str, default: T) -> T {
        match self.optional(key) {
            Ok(Some(value)) => value,
            _ => default,
        }
    }

    /// `key`'s value, typed; a problem when absent.
    pub fn required<T: DeserializeOwned>(&mut self, key: &'static str) -> Read<T> {
        self.optional(key)?
            .ok_or_else(|| self.problem(key, "missing; this key is required"))
    }

    /// A list whose items are typed one by one, so that each bad item is
    /// named (`secrets[2]`); empty when absent.
    pub fn list<T: DeserializeOwned>(&mut self, key: &'static str) -> Read<Vec<T>> {
        let items = self.raw_list(key)?;
        let typed: Vec<Read<T>> = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| self.typed(&format!("{key}[{index}]"), item))
            .collect();
        typed.into_iter().collect()
    }

    /// A required secret reference (`env:`, `file:`, `generated:` or a
    /// literal), resolved.
    pub fn secret(&mut self, key: &'static str) -> Read<Secret> {
        let reference: String = self.required(key)?;
        Secret::resolve(&reference).map_err(|error| self.problem(key, error.to_string()))
    }

    /// A list of secret references, each resolved; a problem with one names
    /// its index. Empty when absent.
    pub fn secrets(&mut self, key: &'static str) -> Read<Vec<Secret>> {
        let references: Vec<String> = self.list(key)?;
        let count = references.len();
        let resolved: Vec<Read<Secret>> = references
            .iter()
            .enumerate()
            .map(|(index, reference)| {
                Secret::resolve(reference).map_err(|error| {
                    let hint = match error {
                        SecretError::Empty(_) | SecretError::Unset(_) if count > 1 => {
                            " (if it is no longer used, remove it from the list)"
                        }
                        _ => "",
                    };
                    self.problem(&format!("{key}[{index}]"), format!("{error}{hint}"))
                })
            })
            .collect();
        resolved.into_iter().collect()
    }

    /// The keys not asked for, to be read by someone else (a registry), who
    /// finishes the reading.
    pub fn into_rest(self) -> Table {
        self.table
    }

    /// Ends the reading: any key not asked for is reported as unknown, with
    /// the valid keys. Fails if anything in the table was invalid.
    pub fn finish(self) -> Read<()> {
        let mut valid: Vec<&str> = self.asked.clone();
        valid.extend(self.also_valid.iter().copied());
        let mut invalid = self.invalid;
        for key in self.table.keys() {
            let message = unknown_key_message(self.noun, key, &valid);
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            self.problems.at(path, message);
            invalid = true;
        }
        if invalid { Err(Invalid) } else { Ok(()) }
    }

    fn raw_list(&mut self, key: &'static str) -> Read<Vec<Value>> {
        match self.raw(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.problem(
                key,
                format!("expected a list ([…]), got {}", type_name(&other)),
            )),
        }
    }

    /// Types `value` found at `key` (a key or `key[index]` of this table).
    fn typed<T: DeserializeOwned>(&mut self, key: &str, value: Value) -> Read<T> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let inner = error.path().to_string();
            let at = match inner.as_str() {
                "." | "" => key.to_string(),
                nested if nested.starts_with('[') => format!("{key}{nested}"),
                nested => format!("{key}.{nested}"),
            };
            let message = error.into_inner().to_string();
            self.problem(&at, message.trim_end().to_string())
        })
    }
}

/// "unknown key", the valid keys, and the closest one when it is close.
pub fn unknown_key_message(noun: &str, key: &str, valid: &[&str]) -> String {
    let closest = valid
        .iter()
        .map(|candidate| (strsim::jaro_winkler(key, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
        .unwrap_or_default();
    if valid.is_empty() {
        format!("unknown {noun}{closest}; this table takes no keys")
    } else {
        format!(
            "unknown {noun}{closest}; the {noun}s here are {}",
            valid.join(", ")
        )
    }
}

/// What a TOML value is, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}
