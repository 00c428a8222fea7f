//! The lazy payload is indistinguishable from the converted one: the same
//! expressions and templates give the same values and the same text over
//! the real GitHub push and over payloads of edge cases (written by
//! `serde_json`, and by hand: repeated keys, escapes, big numbers).

use minijinja::context;
use minijinja::value::Value;

use super::{ENVIRONMENT, Payload, compile, compile_template};

const PUSH: &[u8] = include_bytes!("../../tests/fixtures/github/push-with-new-branch.payload.json");

fn edge_cases() -> serde_json::Value {
    serde_json::json!({
        "zeta": 1, "alpha": {"b": 2, "a": [1, -2, 3.5, null, true, "x"]},
        "Mixed": {"": "empty key", "é": "accent", "10": "ten", "9": "nine"},
        "empty_map": {}, "empty_list": [], "null": null, "false": false,
        "big": 18446744073709551615u64, "neg": -9223372036854775808i64, "float": 1e300,
        "nested": [[1, [2, {"deep": ["d"]}]], {"k": {"j": "v"}}],
        "text": "<b>\"quoted\" & 'single'</b>\n", "post": {"ID": "42"},
    })
}

/// What `serde_json` does not write: repeated keys (the last value wins, at
/// the first one's place), escapes, numbers too big for 64 bits, `-0`,
/// exponents, whitespace everywhere.
const HAND_WRITTEN: &str = r#"
 { "dup" : 1, "alpha": {"b": 2, "b": [1, 2], "a": "first"}, "dup": {"later": true},
   "esc\u00e9": "\ud83d\ude00 \n \u0041\/", "\u00e9": 2, "": {"": []},
   "big": 123456789012345678901234567890, "neg0": -0, "exp": 1E2, "f": 1.0,
   "i": -5, "u": 18446744073709551615, "tiny": -9223372036854775809,
   "nested": [ {"k": 1, "k": 2}, [], {}, [null] ], "after": "0123abc" }
"#;

/// Expressions, as rules and sources write them (`when`, value templates).
const EXPRESSIONS: &[&str] = &[
    "payload",
    "payload.repository.name",
    "payload['repository']['owner']['login']",
    "payload.commits[0].added",
    "payload.commits[-1].id",
    "payload.commits[5]",
    "payload.missing",
    "payload.missing.deeper.still",
    "payload.missing is defined",
    "payload.repository.name is defined",
    "payload.ref == 'refs/heads/' ~ payload.repository.default_branch",
    "'master' in payload.ref",
    "'commits' in payload",
    "payload.commits | length",
    "payload | length",
    "payload.commits | map(attribute='id') | list",
    "payload.commits | map(attribute='author.email') | list",
    "payload | changed_files | list",
    "payload.commits | changed_files | select('matching', '\\.md$') | list",
    "payload.repository | tojson",
    "payload | tojson",
    "payload.repository.owner | tojson(indent=2)",
    "payload.repository | list",
    "payload.repository | dictsort | first",
    "payload.repository | items | list | length",
    "payload.repository.owner | string",
    "payload.commits | string",
    "payload.repository.owner == payload.sender",
    "payload.repository.owner == payload.repository.owner",
    "payload.repository.size * 2 + payload.repository.stargazers_count",
    "payload.before[:7] ~ '-' ~ payload.after[-7:]",
    "payload.commits[0].added + payload.commits[0].modified",
    "payload.head_commit.message | upper",
    "payload.repository.private or payload.forced",
    "payload.commits | sort(attribute='timestamp') | map(attribute='id') | list",
    "payload.commits[0] | dictsort | map('first') | list",
    "payload.repository | selectattr('id') | list",
    "payload.nested[0][1][1].deep[0]",
    "payload.nested | tojson",
    "payload.alpha.a | select | list",
    "payload.alpha.a | reject('none') | list",
    "payload.alpha.a[2] * 2",
    "payload.Mixed | list",
    "payload.Mixed['10'] ~ payload.Mixed['9'] ~ payload.Mixed['']",
    "payload.Mixed[10]",
    "payload.big ~ ' ' ~ payload.neg ~ ' ' ~ payload.float",
    "payload.big > payload.neg",
    "payload.empty_map or 'empty'",
    "payload.empty_list | length",
    "payload.null is none",
    "payload.false",
    "payload.text | escape",
    "payload.text | urlencode",
    "payload.post.ID | int",
    "payload.alpha | items | list",
    "payload.alpha is mapping and payload.alpha.a is sequence",
    "payload.nested[1] is mapping and payload.nested[1] is not sequence",
    "payload.alpha.a | join(',')",
    "payload.alpha.a[1:3]",
    "payload.alpha.a | reverse | list",
    "payload.alpha.a | last",
    "payload.dup",
    "payload.dup.later",
    "payload.alpha.b | tojson",
    "payload['escé'] ~ payload['é']",
    "payload[''][''] | length",
    "payload.big ~ ' ' ~ payload.neg0 ~ ' ' ~ payload.exp ~ ' ' ~ payload.f",
    "payload.i ~ ' ' ~ payload.u ~ ' ' ~ payload.tiny",
    "payload.nested[0].k",
    "payload.after",
    "'dup' in payload and 'k' in payload.nested[0] and 'x' not in payload.alpha",
    "payload.nested[-1][0] is none",
];

/// Templates with blocks: loops over maps and lists, conditions, filters.
const TEMPLATES: &[&str] = &[
    "{% for commit in payload.commits %}{{ loop.index }}:{{ commit.id[:7] }} \
     {% for file in commit.added %}+{{ file }}{% endfor %}{% endfor %}",
    "{% for key in payload.repository %}{{ key }},{% endfor %}",
    "{% for key, value in payload.repository.owner | items %}{{ key }}={{ value }};{% endfor %}",
    "{% for key, value in payload.alpha | dictsort %}{{ key }}={{ value }};{% endfor %}",
    "{% if payload.missing %}yes{% else %}no{% endif %}{{ payload.missing }}",
    "{{ payload.commits[0] }}",
    "{{ payload.nested }} {{ payload.Mixed }} {{ payload.empty_map }} {{ payload.empty_list }}",
    "{% for item in payload.nested recursive %}[{% if item is sequence %}{{ loop(item) }}\
     {% else %}{{ item }}{% endif %}]{% endfor %}",
    "{{ payload | tojson }}",
];

/// The document `text` fully parsed and converted, and read lazily.
fn contexts(text: &str) -> (Value, Value) {
    let parsed: serde_json::Value = serde_json::from_str(text).expect("JSON");
    let eager = context! { payload => Value::from_serialize(&parsed) };
    let payload = Payload::parse_str(text).expect("JSON");
    let lazy = context! { payload => payload.template_value() };
    (eager, lazy)
}

fn documents() -> Vec<String> {
    let push = std::str::from_utf8(PUSH).expect("the fixture is UTF-8");
    vec![
        push.to_string(),
        edge_cases().to_string(),
        HAND_WRITTEN.to_string(),
    ]
}

fn described(value: Result<Value, minijinja::Error>) -> String {
    match value {
        Ok(value) => format!(
            "{:?} {} | {:?} | {:?} | {}",
            value.kind(),
            value,
            serde_json::to_string(&value).ok(),
            value.len(),
            value.is_true()
        ),
        Err(error) => format!("error: {}", error.kind()),
    }
}

#[test]
fn expressions_and_templates_see_the_same_payload() {
    for text in documents() {
        let (eager, lazy) = contexts(&text);
        for expression in EXPRESSIONS {
            let compiled = compile(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
            let want = compiled.eval(eager.clone());
            let got = compiled.eval(lazy.clone());
            if let (Ok(want), Ok(got)) = (&want, &got) {
                assert_eq!(want, got, "{expression}");
            }
            assert_eq!(described(want), described(got), "{expression}");
        }
        for template in TEMPLATES {
            let want = ENVIRONMENT.render_str(template, eager.clone());
            let got = ENVIRONMENT.render_str(template, lazy.clone());
            assert_eq!(
                want.map_err(|e| e.kind()),
                got.map_err(|e| e.kind()),
                "{template}"
            );
        }
    }
}

#[test]
fn value_templates_keep_their_type_over_the_lazy_payload() {
    let (eager, lazy) = contexts(r#"{"ids": [3, 1], "slug": "hello", "n": null}"#);
    for template in [
        "{{ payload.ids }}",
        "https://site.example/{{ payload.slug }}/",
        "{{ payload.n }}",
        "{{ payload.gone }}",
    ] {
        let compiled = compile_template(template).expect("compiles");
        let want = compiled.eval(eager.clone()).expect("evaluates");
        let got = compiled.eval(lazy.clone()).expect("evaluates");
        assert_eq!(
            (want.kind(), want.to_string()),
            (got.kind(), got.to_string())
        );
    }
}

#[test]
fn nested_values_are_read_from_the_shared_text_once() {
    let payload = Payload::parse_str(r#"{"a": {"b": [{"c": 1}]}}"#).expect("JSON");
    let ctx = context! { payload => payload.template_value() };
    let expression = compile("payload.a.b[0].c").expect("compiles");
    assert_eq!(
        expression.eval(ctx.clone()).expect("evaluates"),
        Value::from(1)
    );
    // Containers are indexed once and kept: the same object each time.
    let b = compile("payload.a.b").expect("compiles");
    let (first, second) = (b.eval(ctx.clone()), b.eval(ctx));
    let (first, second) = (first.expect("evaluates"), second.expect("evaluates"));
    let node = |value: &Value| {
        value
            .downcast_object::<super::json::Node>()
            .expect("a node")
    };
    assert!(std::sync::Arc::ptr_eq(&node(&first), &node(&second)));
    assert!(!payload.is_parsed());
}
