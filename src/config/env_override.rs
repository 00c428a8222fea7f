//! `PURGEHOOK__SECTION__KEY` environment overrides, applied to the raw TOML
//! table before it is typed, so an override is checked like the file; each
//! key path set is remembered with its variable, so that a problem with the
//! value names the variable rather than the file.

use toml::{Table, Value};

use super::error::{ConfigError, Overrides};

/// The prefix of override variables.
pub const PREFIX: &str = "PURGEHOOK__";

/// Applies every `PURGEHOOK__A__B=value` of `vars` to `table` as `a.b = value`.
/// The value is read as a TOML value when it is one (`8080`, `true`,
/// `["a", "b"]`), else as a string. Returns the key paths set, with their
/// variables, and the variables that could not be applied.
pub fn apply(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> (Overrides, Vec<ConfigError>) {
    let mut applied = Overrides::new();
    let mut errors = Vec::new();
    for (name, raw) in vars {
        let Some(path) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        let failure = if keys.iter().any(String::is_empty) {
            Some("empty key segment in the variable's name".to_string())
        } else {
            set(table, &keys, parse_value(&raw)).err()
        };
        let error = failure.map(|message| ConfigError {
            path: keys.join("."),
            message,
            variable: Some(name.clone()),
        });
        match error {
            Some(error) => errors.push(error),
            None => {
                applied.insert(keys.join("."), name);
            }
        }
    }
    (applied, errors)
}

fn parse_value(raw: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

fn set(table: &mut Table, keys: &[String], value: Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("{key} is not a table in the configuration"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_create_and_replace_keys_with_typed_values() {
        let mut table: Table = toml::from_str("[server]\nlisten = \"127.0.0.1:8080\"").unwrap();
        let vars = vec![
            ("PURGEHOOK__SERVER__LISTEN".into(), "127.0.0.1:0".into()),
            ("PURGEHOOK__SERVER__MAX_BODY_BYTES".into(), "2048".into()),
            ("PURGEHOOK__TARGETS__BLOG__WINDOW".into(), "10ms".into()),
            ("UNRELATED".into(), "x".into()),
        ];
        let (applied, errors) = apply(&mut table, vars);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(applied.len(), 3);
        assert_eq!(applied["server.listen"], "PURGEHOOK__SERVER__LISTEN");
        assert_eq!(table["server"]["listen"].as_str(), Some("127.0.0.1:0"));
        assert_eq!(table["server"]["max_body_bytes"].as_integer(), Some(2048));
        assert_eq!(table["targets"]["blog"]["window"].as_str(), Some("10ms"));
    }

    #[test]
    fn a_variable_that_cannot_apply_is_named() {
        let mut table: Table = toml::from_str("server = 3").unwrap();
        let vars = vec![("PURGEHOOK__SERVER__LISTEN".into(), "x".into())];
        let (_, errors) = apply(&mut table, vars);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].variable.as_deref(),
            Some("PURGEHOOK__SERVER__LISTEN")
        );
    }
}
