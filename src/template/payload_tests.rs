//! [`Payload`] refuses exactly what parsing into a `serde_json::Value`
//! refuses, with the same message, and on random documents (written with
//! repeated keys, escapes, big numbers and random spacing) its template
//! value is indistinguishable from `Value::from_serialize` of the parsed
//! document along random access paths.

use std::fmt::Write;

use minijinja::context;
use minijinja::value::Value;
use proptest::prelude::*;

use super::json::member_texts;
use super::{Compiled, Payload, compile};

#[test]
fn refuses_what_serde_json_refuses_with_the_same_message() {
    let deep = "[".repeat(200) + &"]".repeat(200);
    let bad: &[&[u8]] = &[
        b"",
        b"{",
        b"[1,]",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"1e400",
        b"[-1e400]",
        b"\"\\ud800\"",
        b"{\"\\udc00x\": 1}",
        b"\"\xff\"",
        b"{\"\xc3\": 1}",
        b"\"\x01\"",
        b"\"\\q\"",
        b"{\"a\":1} x",
        b"nul",
        b"01",
        b"{1: 2}",
        deep.as_bytes(),
    ];
    for text in bad {
        let want = serde_json::from_slice::<serde_json::Value>(text).map(|_| ());
        let got = Payload::parse(text).map(|_| ());
        assert_eq!(
            want.map_err(|e| e.to_string()),
            got.map_err(|e| e.to_string()),
            "{}",
            String::from_utf8_lossy(text)
        );
    }
    for good in ["0", " \"x\" ", "-0", "1E2", "[[]]", "{\"a\":{\"a\":null}}"] {
        let payload = Payload::parse_str(good).expect("valid JSON");
        let parsed: serde_json::Value = serde_json::from_str(good).expect("valid JSON");
        assert_eq!(payload.value(), &parsed);
        assert_eq!(payload.text(), good);
    }
}

/// A JSON document as written: how each string is escaped, where spaces go.
#[derive(Debug, Clone)]
enum Doc {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Digits too many for 64 bits, or at their edges.
    Digits(String),
    Str(String, bool),
    Array(Vec<Doc>, bool),
    Object(Vec<((String, bool), Doc)>, bool),
}

/// Keys few enough to repeat, and to be looked up.
const KEYS: &[&str] = &["a", "b", "é", "", "10", "a\"b", "😀", "k"];

fn text_of(s: &str, escaped: bool, out: &mut String) {
    if !escaped {
        out.push_str(&serde_json::to_string(s).expect("a string"));
        return;
    }
    out.push('"');
    for unit in s.encode_utf16() {
        let _ = write!(out, "\\u{unit:04x}");
    }
    out.push('"');
}

fn write_doc(doc: &Doc, out: &mut String) {
    match doc {
        Doc::Null => out.push_str("null"),
        Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Doc::Int(n) => out.push_str(&n.to_string()),
        Doc::Float(f) => out.push_str(&serde_json::to_string(f).expect("finite")),
        Doc::Digits(d) => out.push_str(d),
        Doc::Str(s, escaped) => text_of(s, *escaped, out),
        Doc::Array(items, spaced) => {
            let sep = if *spaced { " ,\n " } else { "," };
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { sep });
                write_doc(item, out);
            }
            out.push(']');
        }
        Doc::Object(members, spaced) => {
            let (sep, colon) = if *spaced { (" , ", " :\t") } else { (",", ":") };
            out.push_str(if *spaced { "{ " } else { "{" });
            for (i, ((key, escaped), value)) in members.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { sep });
                text_of(key, *escaped, out);
                out.push_str(colon);
                write_doc(value, out);
            }
            out.push('}');
        }
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        Just(Doc::Null),
        any::<bool>().prop_map(Doc::Bool),
        any::<i64>().prop_map(Doc::Int),
        (-5i64..5).prop_map(Doc::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Doc::Float),
        prop_oneof![
            Just("18446744073709551615".to_string()),
            Just("18446744073709551616".to_string()),
            Just("-9223372036854775808".to_string()),
            Just("-9223372036854775809".to_string()),
            Just("-0".to_string()),
            Just("1.5e3".to_string()),
            "[1-9][0-9]{19,30}",
        ]
        .prop_map(Doc::Digits),
        (".{0,8}", any::<bool>()).prop_map(|(s, e)| Doc::Str(s, e)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), any::<bool>())
                .prop_map(|(items, spaced)| Doc::Array(items, spaced)),
            (
                prop::collection::vec(((prop::sample::select(KEYS), any::<bool>()), inner), 0..7),
                any::<bool>()
            )
                .prop_map(|(members, spaced)| Doc::Object(
                    members
                        .into_iter()
                        .map(|((k, e), v)| ((k.to_string(), e), v))
                        .collect(),
                    spaced
                )),
        ]
    })
}

/// One step of an access path: a key, an index (negative from the end), or
/// a key given as a number.
fn step() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(KEYS).prop_map(Value::from),
        (-3i64..5).prop_map(Value::from),
        Just(Value::from("missing")),
    ]
}

/// Expressions over `x`, a value reached along a path.
fn expressions() -> Vec<Compiled> {
    [
        "x | tojson",
        "x | length",
        "x | list",
        "x | items | list",
        "x | dictsort | list",
        "'a' in x",
        "x is mapping ~ x is sequence ~ x is none ~ x is number ~ x is string",
        "x ~ ''",
        "x.a",
        "x[0]",
        "x[-1]",
    ]
    .iter()
    .map(|e| compile(e).expect("compiles"))
    .collect()
}

fn described(value: &Value, expressions: &[Compiled]) -> Vec<String> {
    let mut seen = vec![format!(
        "{:?} {} | {:?} | {:?} | {} | {:?}",
        value.kind(),
        value,
        serde_json::to_string(value).ok(),
        value.len(),
        value.is_true(),
        value.try_iter().map(|items| items.collect::<Vec<_>>()).ok(),
    )];
    for expression in expressions {
        seen.push(match expression.eval(context! { x => value.clone() }) {
            Ok(value) => format!("{:?} {value}", value.kind()),
            Err(error) => format!("error: {}", error.kind()),
        });
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_lazy_payload_reads_as_the_parsed_one(
        doc in doc(),
        paths in prop::collection::vec(prop::collection::vec(step(), 0..5), 1..6),
    ) {
        let mut text = String::new();
        write_doc(&doc, &mut text);
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let eager = Value::from_serialize(&parsed);
        let payload = Payload::parse_str(&text).expect("valid JSON");
        let lazy = payload.template_value();
        // The members located while checking are those read on demand.
        let read_later = super::json::document(&text.as_str().into(), None);
        prop_assert_eq!(member_texts(&lazy), member_texts(&read_later));
        let expressions = expressions();
        for path in paths {
            let (mut want, mut got) = (eager.clone(), lazy.clone());
            for key in path {
                prop_assert_eq!(&want, &got, "{} at {:?}", text, key);
                prop_assert_eq!(described(&want, &expressions), described(&got, &expressions));
                want = want.get_item(&key).unwrap_or(Value::UNDEFINED);
                got = got.get_item(&key).unwrap_or(Value::UNDEFINED);
            }
            prop_assert_eq!(described(&want, &expressions), described(&got, &expressions));
        }
        prop_assert!(!payload.is_parsed());
        prop_assert_eq!(payload.value(), &parsed);
    }
}
