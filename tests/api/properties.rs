//! Properties of what parses untrusted input: each sender's verifier (any
//! headers and body never panic; a delivery signed as the sender signs it
//! is accepted, and any change to its body or signature is refused as
//! unauthenticated), job decoding (any bytes never panic; valid jobs
//! round-trip) and templates (any expression, any payload, never a panic).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use purgehook::action::Action;
use purgehook::app::Prepared;
use purgehook::job::Job;
use purgehook::source::{Inbound, Source, VerifyError};

/// Sources whose signature covers the body: any change to it is refused.
const SCHEMES: [&str; 6] = [
    "github",
    "standard",
    "wp-webhooks",
    "woocommerce",
    "hmac",
    "contentful",
];

/// Every source, the token kinds (whose secret does not cover the body)
/// included: none panics on any input.
const ALL: [&str; 8] = [
    "github",
    "standard",
    "wp-webhooks",
    "woocommerce",
    "hmac",
    "contentful",
    "token-header",
    "token-field",
];

/// One source per scheme, each with two secrets (rotation).
static SOURCES: LazyLock<BTreeMap<String, Source>> = LazyLock::new(|| {
    let mut toml = String::new();
    for name in ALL {
        let (kind, extra) = match name {
            "hmac" => (
                "hmac",
                "header = \"X-Shopify-Hmac-Sha256\"\nalgorithm = \"sha256\"\nencoding = \"base64\"\n",
            ),
            "token-header" => (
                "token",
                "header = \"Authorization\"\nprefix = \"Bearer \"\n",
            ),
            "token-field" => ("token", "field = \"secret\"\n"),
            kind => (kind, ""),
        };
        let secrets = match kind {
            "standard" => {
                r#"["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24="]"#
            }
            "contentful" => {
                r#"["Contentful64charactersSecretOfASpace_0123456789abcdefABCDEFG-+/=", "q8BJlKf0rU3gWbYt1n5Zx7Cv9Hd2Sj4Ma6Pe8Gk0Lw2Nr4Tu6Vy8Xz0Qa2Sd4Ff6"]"#
            }
            _ => r#"["first secret of a sender", "second secret (rotation)"]"#,
        };
        toml.push_str(&format!(
            "[sources.{name}]\nkind = \"{kind}\"\nsecrets = {secrets}\n{extra}"
        ));
    }
    let settings = purgehook::config::from_toml(&toml, Path::new("p.toml"), vec![]).unwrap();
    Prepared::new(settings).unwrap().sources
});

fn source(kind: &str) -> &'static Source {
    &SOURCES[kind]
}

/// A delivery of `body` signed by `source` at `now`, as the sender sends it.
fn signed(source: &Source, body: &[u8], now: SystemTime) -> Inbound {
    let signed = source.sign(body, None, now).unwrap();
    Inbound {
        headers: signed
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        query: signed.query.into_iter().collect(),
        path: format!("/hooks/{}", source.id()),
        body: body.to_vec(),
    }
}

fn now_plus(seconds: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(seconds))
}

/// The header that carries `kind`'s signature.
fn signature_header(kind: &str) -> &'static str {
    match kind {
        "github" => "x-hub-signature-256",
        "standard" => "webhook-signature",
        "wp-webhooks" => "x-wp-webhook-signature",
        "woocommerce" => "x-wc-webhook-signature",
        "hmac" => "x-shopify-hmac-sha256",
        "contentful" => "x-contentful-signature",
        other => panic!("no signature header for {other}"),
    }
}

fn refused_as_unauthenticated(result: Result<impl Sized, VerifyError>) -> bool {
    matches!(result, Err(error) if error.is_unauthenticated())
}

fn any_headers() -> impl Strategy<Value = BTreeMap<String, String>> {
    let names = prop_oneof![
        Just("x-hub-signature-256".to_string()),
        Just("x-github-event".to_string()),
        Just("webhook-id".to_string()),
        Just("webhook-timestamp".to_string()),
        Just("webhook-signature".to_string()),
        Just("x-wp-webhook-signature".to_string()),
        Just("x-wc-webhook-signature".to_string()),
        Just("x-wc-webhook-topic".to_string()),
        Just("x-shopify-hmac-sha256".to_string()),
        Just("x-contentful-signature".to_string()),
        Just("x-contentful-timestamp".to_string()),
        Just("x-contentful-signed-headers".to_string()),
        Just("authorization".to_string()),
        Just("content-type".to_string()),
        "[a-z-]{1,20}",
    ];
    let values = prop_oneof![
        "\\PC{0,80}",
        "sha256=[0-9a-f]{0,70}",
        "(v1,[A-Za-z0-9+/=]{0,50} ?){0,3}",
        "[0-9]{0,25}",
        Just("application/x-www-form-urlencoded".to_string()),
    ];
    proptest::collection::btree_map(names, values, 0..8)
}

fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "\\{\"type\": \"[a-z.]{0,12}\", \"data\": \\{\\}\\}".prop_map(String::into_bytes),
        "\\{\"secret\": \"[a-z ]{0,30}\", \"type\": \"api-update\"\\}".prop_map(String::into_bytes),
        "(payload|webhook_id)=[0-9a-z%{}]{0,30}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_delivery_is_answered_without_a_panic(
        kind in proptest::sample::select(&ALL[..]),
        headers in any_headers(),
        body in any_body(),
        event in proptest::option::of("[a-z_.]{0,12}"),
        seconds in any::<u32>(),
    ) {
        let mut query = BTreeMap::new();
        if let Some(event) = event {
            query.insert("event".to_string(), event);
        }
        let inbound = Inbound {
            headers,
            query,
            path: "/hooks/any".into(),
            body,
        };
        let _ = source(kind).verify(&inbound, now_plus(seconds));
    }

    #[test]
    fn a_signed_delivery_is_accepted_and_any_change_refused(
        kind in proptest::sample::select(&SCHEMES[..]),
        body in any_body(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        forged in "\\PC{0,90}",
    ) {
        let source = source(kind);
        let now = now_plus(0);
        let inbound = signed(source, &body, now);
        // Authentic: it may still be a body the sender never sends (400),
        // never a signature problem.
        let verified = source.verify(&inbound, now);
        prop_assert!(!refused_as_unauthenticated(verified), "{kind}: a signed delivery is refused");

        if !body.is_empty() {
            let mut changed = inbound.clone();
            changed.body[flip.index(body.len())] ^= 1 << bit;
            prop_assert!(refused_as_unauthenticated(source.verify(&changed, now)), "{kind}: a changed body");
        }
        let mut changed = inbound.clone();
        changed.body.push(b' ');
        prop_assert!(refused_as_unauthenticated(source.verify(&changed, now)), "{kind}: a longer body");

        let mut changed = inbound.clone();
        changed.headers.insert(signature_header(kind).to_string(), forged);
        prop_assert!(refused_as_unauthenticated(source.verify(&changed, now)), "{kind}: a forged signature");

        let mut unsigned = inbound.clone();
        unsigned.headers.remove(signature_header(kind));
        let ping = kind == "woocommerce" && body.starts_with(b"webhook_id=");
        if !ping {
            prop_assert!(refused_as_unauthenticated(source.verify(&unsigned, now)), "{kind}: unsigned");
        }
    }

    #[test]
    fn standard_webhooks_refuse_timestamps_out_of_tolerance(
        body in any_body(),
        skew in 301u32..1_000_000,
        future in any::<bool>(),
    ) {
        let source = source("standard");
        let sent = now_plus(1_000_000);
        let inbound = signed(source, &body, sent);
        let now = if future { sent - Duration::from_secs(skew.into()) } else { sent + Duration::from_secs(skew.into()) };
        let stale = matches!(source.verify(&inbound, now), Err(VerifyError::Stale { .. }));
        prop_assert!(stale);
        let within = sent + Duration::from_secs(u64::from(skew % 300));
        prop_assert!(!refused_as_unauthenticated(source.verify(&inbound, within)));
    }
}

fn any_action() -> impl Strategy<Value = Action> {
    let text = "[a-zA-Z0-9_./-]{1,20}";
    prop_oneof![
        any::<bool>().prop_map(|full| Action::Everything { full }),
        proptest::collection::vec("https?://[a-z]{1,10}\\.example(/[a-z0-9]{0,8}){0,3}", 1..5)
            .prop_map(|urls| Action::Urls { urls }),
        proptest::collection::vec(text, 1..5).prop_map(|tags| Action::Tags { tags }),
        (
            proptest::collection::vec(1u64..u64::MAX, 1..5),
            any::<bool>()
        )
            .prop_map(|(post_ids, related)| Action::PostIds { post_ids, related }),
        (proptest::collection::vec(text, 1..4), any::<bool>())
            .prop_map(|(scopes, full)| Action::Scopes { scopes, full }),
        (
            text,
            proptest::collection::btree_map("[a-z]{1,8}", any::<i64>(), 0..3)
        )
            .prop_map(|(title, params)| Action::Resource {
                title,
                params: params.into_iter().map(|(k, v)| (k, v.into())).collect(),
            }),
        text.prop_map(|name| Action::Command { name }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_decode_to_a_job_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Job::from_bytes(&bytes);
    }

    #[test]
    fn any_json_decodes_to_a_job_or_an_error(
        v in prop_oneof![Just("1".to_string()), "-?[0-9]{1,3}", Just("\"1\"".to_string())],
        kind in "[a-z_]{0,10}",
        field in "[a-z_]{0,10}",
        value in prop_oneof![Just("[]".to_string()), Just("null".to_string()), "\"\\PC{0,20}\"", "-?[0-9]{1,25}", Just("[0, -1, 1.5]".to_string())],
        target in "\\PC{0,12}",
    ) {
        let text = format!(
            r#"{{"v": {v}, "id": "0193a6f0-0000-7000-8000-000000000000", "target": {target:?},
                "action": {{"kind": {kind:?}, {field:?}: {value}}}, "created_at": "2026-11-23T20:31:00Z"}}"#
        );
        let _ = Job::from_bytes(text.as_bytes());
    }

    #[test]
    fn valid_jobs_round_trip(action in any_action(), target in "[a-z][a-z0-9_-]{0,15}", attempt in any::<u32>()) {
        let mut job = Job::new(purgehook::job::TargetId::new(&target).unwrap(), action, None);
        job.attempt = attempt;
        let bytes = job.to_bytes().unwrap();
        prop_assert_eq!(Job::from_bytes(&bytes).unwrap(), job);
    }
}

/// Expressions built from the language's pieces: paths into the payload,
/// literals, operators, filters and tests, nested a few levels.
fn any_expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "payload(\\.[a-z]{1,6}|\\[[0-9]\\]){0,3}",
        "-?[0-9]{1,3}",
        "\"\\PC{0,10}\"".prop_map(|s| s.replace('\\', "")),
        Just("none".to_string()),
        Just("[1, 'a', none]".to_string()),
        Just("payload.commits".to_string()),
    ];
    leaf.prop_recursive(4, 32, 3, |inner| {
        let pattern = "[a-z.*+?()\\[\\]^$|\\\\{}0-9]{0,8}";
        prop_oneof![
            (
                inner.clone(),
                "(\\+|-|\\*|/|//|%|~|==|!=|<|and|or|in)",
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (
                inner.clone(),
                "(length|lower|upper|string|list|first|last|unique|tojson|changed_files|sort|int)"
            )
                .prop_map(|(a, f)| format!("({a} | {f})")),
            (inner.clone(), pattern, "[a-z$1]{0,5}")
                .prop_map(|(a, p, r)| format!("({a} | regex_replace('{p}', '{r}'))")),
            (inner.clone(), pattern).prop_map(|(a, p)| format!("({a} is matching('{p}'))")),
            (inner.clone(), pattern)
                .prop_map(|(a, p)| format!("({a} | select('matching', '{p}') | list)")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

fn any_payload() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_template_text_compiles_or_is_refused(text in "\\PC{0,60}") {
        let _ = purgehook::template::compile_template(&text);
        let _ = purgehook::template::compile(&text);
    }

    #[test]
    fn any_expression_on_any_payload_evaluates_or_errs(
        expression in any_expression(),
        payload in any_payload(),
        interpolated in any::<bool>(),
    ) {
        let template = if interpolated {
            format!("https://site.example/{{{{ {expression} }}}}/")
        } else {
            format!("{{{{ {expression} }}}}")
        };
        if let Ok(compiled) = purgehook::template::compile_template(&template) {
            let _ = compiled.eval(serde_json::json!({"payload": payload}));
        }
    }
}
