//! The expression language of rule conditions, action values and the
//! `http` provider's requests: minijinja (Jinja syntax) with purgehook's
//! helpers, a webhook's JSON body read lazily, as text ([`Payload`]),
//! and the translation of a value template
//! (`"https://site/{{ payload.slug }}/"`) into one expression, so that every
//! value is compiled once, when the configuration loads. One environment
//! serves the whole process. This module imports nothing from the rest of
//! the crate.
//!
//! Helpers:
//! - filter `changed_files`: every file added, modified or removed by a
//!   GitHub push (given the payload or its `commits`), sorted, unique;
//! - filter `regex_replace(pattern, replacement)`: `$1`-style replacement;
//! - test `matching(pattern)`: whether a string matches a regex.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use regex_lite::Regex;

mod json;
mod payload;
pub use payload::Payload;

/// A compiled expression, valid for the whole process.
pub type Compiled = minijinja::Expression<'static, 'static>;

/// The environment every expression is compiled in: undefined values chain
/// (`payload.a.b` of a payload without `a` is undefined, not an error), and
/// purgehook's helpers are registered.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.add_filter("changed_files", changed_files);
    env.add_filter("regex_replace", regex_replace);
    env.add_test("matching", matching);
    env
});

/// Why an expression or template does not compile, or failed to evaluate:
/// minijinja's description of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl From<Error> for TemplateError {
    fn from(error: Error) -> Self {
        TemplateError(describe(&error))
    }
}

/// Compiles a condition or a bare expression.
pub fn compile(source: &str) -> Result<Compiled, TemplateError> {
    ENVIRONMENT
        .compile_expression_owned(source.to_string())
        .map_err(TemplateError::from)
}

/// Compiles a value template: a lone `{{ expr }}` keeps the expression's type
/// (a list stays a list); text with interpolations becomes a string
/// concatenation; plain text becomes a string literal.
pub fn compile_template(template: &str) -> Result<Compiled, TemplateError> {
    if template.contains("{%") || template.contains("{#") {
        return Err(TemplateError("only {{ … }} interpolations are supported in values; use filters and expressions instead of {% … %} blocks".into()));
    }
    let expression = template_to_expression(template)?;
    compile(&expression)
}

/// Whether a value is a template (it has `{{ … }}`) rather than plain text.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

fn template_to_expression(template: &str) -> Result<String, TemplateError> {
    let trimmed = template.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return Ok(format!("({})", inner.trim()));
    }
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(string_literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError(format!("unclosed {{{{ in {template:?}")))?;
        parts.push(format!("(({}) | string)", after[..end].trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(string_literal(rest));
    }
    Ok(parts.join(" ~ "))
}

fn string_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\t' => literal.push_str("\\t"),
            '\r' => literal.push_str("\\r"),
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

/// A one-line description of a minijinja error.
fn describe(error: &Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

fn changed_files(value: Value) -> Result<Value, Error> {
    let commits = match value.get_attr("commits") {
        Ok(commits) if !commits.is_undefined() && !commits.is_none() => commits,
        _ => value,
    };
    let mut files = BTreeSet::new();
    if commits.is_undefined() || commits.is_none() {
        return Ok(Value::from(Vec::<String>::new()));
    }
    for commit in commits.try_iter()? {
        for field in ["added", "modified", "removed"] {
            let list = commit.get_attr(field)?;
            if list.is_undefined() || list.is_none() {
                continue;
            }
            for path in list.try_iter()? {
                if let Some(path) = path.as_str() {
                    files.insert(path.to_string());
                }
            }
        }
    }
    Ok(Value::from(files.into_iter().collect::<Vec<_>>()))
}

static REGEX_CACHE: LazyLock<Mutex<HashMap<String, Arc<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn regex(pattern: &str) -> Result<Arc<Regex>, Error> {
    let mut cache = REGEX_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(regex) = cache.get(pattern) {
        return Ok(regex.clone());
    }
    let regex = Regex::new(pattern).map(Arc::new).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid regex {pattern:?}: {e}"),
        )
    })?;
    cache.insert(pattern.to_string(), regex.clone());
    Ok(regex)
}

fn regex_replace(value: String, pattern: String, replacement: String) -> Result<String, Error> {
    Ok(regex(&pattern)?
        .replace_all(&value, replacement.as_str())
        .into_owned())
}

fn matching(value: String, pattern: String) -> Result<bool, Error> {
    Ok(regex(&pattern)?.is_match(&value))
}

#[cfg(test)]
mod json_tests;
#[cfg(test)]
mod payload_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn eval(template: &str, ctx: Value) -> Value {
        compile_template(template).unwrap().eval(ctx).unwrap()
    }

    #[test]
    fn lone_expressions_keep_their_type() {
        let ctx = context! { payload => context! { id => 42, ids => vec![1, 2] } };
        assert_eq!(eval("{{ payload.id }}", ctx.clone()), Value::from(42));
        assert_eq!(eval("{{ payload.ids }}", ctx), Value::from(vec![1, 2]));
    }

    #[test]
    fn text_with_interpolations_is_a_string() {
        let ctx = context! { payload => context! { slug => "hello", q => "a\"b" } };
        assert_eq!(
            eval(
                "https://x.example/{{ payload.slug }}/?q={{ payload.q }}",
                ctx
            )
            .as_str(),
            Some("https://x.example/hello/?q=a\"b")
        );
        assert_eq!(
            eval("plain \\ text", Value::UNDEFINED).as_str(),
            Some("plain \\ text")
        );
    }

    #[test]
    fn push_files_map_to_urls() {
        let payload: serde_json::Value = serde_json::json!({"commits": [
            {"added": ["content/blog/hello.md"], "modified": ["README.md"], "removed": []},
            {"added": [], "modified": ["content/blog/hello.md"], "removed": ["content/about.md"]}
        ]});
        let template = "{{ payload | changed_files | select('matching', '^content/.*\\.md$') \
            | map('regex_replace', '^content/(.*)\\.md$', 'https://site.example/$1/') | list }}";
        let urls = eval(
            template,
            context! { payload => Value::from_serialize(&payload) },
        );
        let urls: Vec<String> = urls.try_iter().unwrap().map(|v| v.to_string()).collect();
        assert_eq!(
            urls,
            [
                "https://site.example/about/",
                "https://site.example/blog/hello/"
            ]
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        assert!(compile_template("{{ payload. }}").is_err());
        assert!(compile_template("{% if x %}y{% endif %}").is_err());
        assert!(compile_template("a {{ b").is_err());
    }
}
