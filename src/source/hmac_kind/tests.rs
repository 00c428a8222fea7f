//! The `hmac` kind against the senders' own test vectors. Each vector says
//! where it comes from: **official** (the sender's docs or SDK tests),
//! **derived** (the sender's unit test replayed with its fixed inputs) or
//! **computed** (the documented algorithm, recomputed by
//! with Python's `hmac`, and here with RustCrypto's `hmac`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};

use crate::source::tests::{configured, delivery_of, expect_event, inbound};
use crate::source::{Received, Source, VerifyError};

const SHOPIFY: &str = r#"
header = "X-Shopify-Hmac-Sha256"
algorithm = "sha256"
encoding = "base64"
event = "{{ headers['x-shopify-topic'] }}"
delivery_id = "{{ headers['x-shopify-webhook-id'] }}"
"#;

const GHOST: &str = r#"
header = "X-Ghost-Signature"
algorithm = "sha256"
encoding = "hex"
format = "sha256={signature}, t={t}"
signed = "{body}{t}"
timestamp_unit = "ms"
event = "{{ payload.event or query.event or 'ghost' }}"
"#;

const SANITY: &str = r#"
header = "sanity-webhook-signature"
algorithm = "sha256"
encoding = "base64url"
format = "t={t},v1={signature}"
signed = "{t}.{body}"
timestamp_unit = "ms"
event = "{{ headers['sanity-operation'] or 'sanity' }}"
"#;

fn hmac_source(secret: &str, options: &str) -> Source {
    configured("hmac", &[secret], options).unwrap_or_else(|e| panic!("{e:?}"))
}

fn at_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// HMAC-SHA256 by RustCrypto, independent of the ring code under test.
fn sha256(secret: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn github_s_official_vector_verifies_as_an_hmac_source() {
    // Official: GitHub's "Validating webhook deliveries" test values.
    let github = hmac_source(
        "It's a Secret to Everybody",
        r#"header = "X-Hub-Signature-256"
           algorithm = "sha256"
           encoding = "hex"
           prefix = "sha256="
           event = "{{ headers['x-github-event'] }}""#,
    );
    let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let body = b"Hello, World!";
    let delivery = inbound(&[("X-Hub-Signature-256", signature)], body);
    // Verified, then the body is not JSON: a 400, not a 401.
    assert!(matches!(
        github.verify(&delivery, SystemTime::now()),
        Err(VerifyError::BadBody(_))
    ));
    let tampered = inbound(&[("X-Hub-Signature-256", signature)], b"Hello, World?");
    assert!(
        github
            .verify(&tampered, SystemTime::now())
            .unwrap_err()
            .is_unauthenticated()
    );
}

#[test]
fn shopify_s_official_vector_verifies_and_names_the_topic() {
    // Official: shopify-app-js validate.test.ts (secret, body, base64 MAC).
    let shopify = hmac_source("test_secret_key", SHOPIFY);
    let body = br#"{"foo": "bar"}"#;
    let delivery = inbound(
        &[
            (
                "X-Shopify-Hmac-Sha256",
                "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=",
            ),
            ("X-Shopify-Topic", "products/update"),
            (
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ],
        body,
    );
    let event = expect_event(shopify.verify(&delivery, SystemTime::now()));
    assert_eq!(event.event_type, "products/update");
    assert_eq!(
        event.delivery_id.as_deref(),
        Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    );
    assert_eq!(event.payload.value()["foo"], "bar");
}

#[test]
fn sanity_s_official_vectors_verify_with_millisecond_timestamps() {
    // Official: sanity-io/webhook-toolkit test/signature.test.ts.
    for (secret, header, body) in [
        (
            "try-me",
            "t=1633518820676,v1=e7C9h2sfbFfc4V7TEz7PSOp4IoNzl0UdVsBV-1wgdeA",
            r#"{"title":"GROQ-Hooks are neat"}"#,
        ),
        (
            "test",
            "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0",
            r#"{"_id":"resume"}"#,
        ),
    ] {
        let sanity = hmac_source(secret, SANITY);
        let sent: u64 = header[2..15].parse().unwrap();
        let delivery = inbound(&[("sanity-webhook-signature", header)], body.as_bytes());
        let event = expect_event(sanity.verify(&delivery, at_millis(sent + 1_000)));
        assert_eq!(event.event_type, "sanity");
        // Five minutes and a second later, the same delivery is stale.
        assert!(matches!(
            sanity.verify(&delivery, at_millis(sent + 301_000)),
            Err(VerifyError::Stale {
                skew: 301,
                tolerance: 300,
                ..
            })
        ));
    }
}

#[test]
fn ghost_s_derived_vector_verifies_body_then_timestamp() {
    // Derived: Ghost's unit test "uses the request payload and a timestamp"
    // (a fake clock at 0 ms).
    let ghost = hmac_source("abc123dontstealme", GHOST);
    let body = br#"{"event":"post.added","data":[1]}"#;
    let header = "sha256=cb0a3b68c9a182b0ad29f3b744f1470e63ede3fcb517a61318bf91197092b431, t=0";
    let delivery = inbound(&[("X-Ghost-Signature", header)], body);
    let event = expect_event(ghost.verify(&delivery, at_millis(10_000)));
    assert_eq!(event.event_type, "post.added");
    // The timestamp is signed: changing it breaks the signature.
    let moved = inbound(
        &[("X-Ghost-Signature", &header.replace("t=0", "t=5"))],
        body,
    );
    assert!(
        ghost
            .verify(&moved, at_millis(10_000))
            .unwrap_err()
            .is_unauthenticated()
    );
}

#[test]
fn storyblok_signs_with_sha1_in_hex() {
    // Computed: Storyblok's documented createHmac('sha1', secret) over the raw body.
    let storyblok = hmac_source(
        "purgehook-storyblok-secret",
        r#"header = "webhook-signature"
           algorithm = "sha1"
           encoding = "hex"
           event = "{{ ('story' if payload.story_id is defined else 'asset' if payload.asset_id is defined else 'storyblok') ~ '.' ~ payload.action }}""#,
    );
    let body = br#"{"text":"The user test@domain.com published the Story XYZ (xyz)","action":"published","space_id":123,"story_id":456,"full_slug":"blog/hello-world"}"#;
    let delivery = inbound(
        &[(
            "webhook-signature",
            "4b79c2b924d977f7687ee299f8bb910050d2b5f3",
        )],
        body,
    );
    let event = expect_event(storyblok.verify(&delivery, SystemTime::now()));
    assert_eq!(event.event_type, "story.published");
}

#[test]
fn a_timestamp_header_and_signed_headers_make_standard_webhooks() {
    // Standard Webhooks' layout, with a plain (not whsec_) key: the MAC is
    // computed here with RustCrypto, as the spec describes it.
    let source = hmac_source(
        "a-plain-key",
        r#"header = "webhook-signature"
           algorithm = "sha256"
           encoding = "base64"
           prefix = "v1,"
           timestamp_header = "webhook-timestamp"
           signed = "{header:webhook-id}.{t}.{body}"
           delivery_id = "{{ headers['webhook-id'] }}""#,
    );
    let now = UNIX_EPOCH + Duration::from_secs(1_795_465_860);
    let body = br#"{"type":"post.published"}"#;
    let mac = sha256(
        "a-plain-key",
        b"msg_1.1795465860.{\"type\":\"post.published\"}",
    );
    let signature = format!(
        "v1,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac)
    );
    let delivery = inbound(
        &[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1795465860"),
            ("webhook-signature", &signature),
        ],
        body,
    );
    let event = expect_event(source.verify(&delivery, now));
    assert_eq!(
        (event.event_type.as_str(), event.delivery_id.as_deref()),
        ("webhook", Some("msg_1"))
    );
    let mut other_id = delivery.clone();
    other_id.headers.insert("webhook-id".into(), "msg_2".into());
    assert!(
        source
            .verify(&other_id, now)
            .unwrap_err()
            .is_unauthenticated()
    );
    let mut no_time = delivery;
    no_time.headers.remove("webhook-timestamp");
    assert_eq!(
        source.verify(&no_time, now).unwrap_err(),
        VerifyError::MissingSignature("webhook-timestamp".into())
    );
}

#[test]
fn what_sign_makes_verifies_for_every_layout() {
    let now = SystemTime::now();
    for options in [
        SHOPIFY,
        GHOST,
        SANITY,
        "header = \"x-sig\"\nalgorithm = \"sha512\"\nencoding = \"base64url\"",
    ] {
        let source = hmac_source("s3cret", options);
        let body = br#"{"event":"post.published","id":1}"#;
        let signed = source.sign(body, Some("products/create"), now).unwrap();
        let verified = source.verify(&delivery_of(&signed, body), now);
        assert!(
            matches!(verified, Ok(Received::Event(_))),
            "{options}: {verified:?}"
        );
    }
}

#[test]
fn configuration_mistakes_are_named_with_their_key() {
    let problems = |options: &str| configured("hmac", &["s"], options).unwrap_err();
    let base = "header = \"x-sig\"\nalgorithm = \"sha256\"\nencoding = \"hex\"\n";
    let cases = [
        (
            "algorithm = \"md5\"\nheader = \"x\"\nencoding = \"hex\"",
            "sources.s.algorithm",
            "sha1",
        ),
        ("", "sources.s.header", "required"),
        (
            "format = \"v1={signature}\"\nprefix = \"x\"",
            "sources.s.format",
            "not both",
        ),
        ("format = \"v1={mac}\"", "sources.s.format", "{signature}"),
        (
            "signed = \"{t}.{body}\"",
            "sources.s.signed",
            "needs a timestamp",
        ),
        ("signed = \"{t}\"", "sources.s.signed", "{body}"),
        (
            "format = \"sha256={signature}, t={t}\"\ntolerance = \"1m\"",
            "sources.s.tolerance",
            "not signed",
        ),
        (
            "timestamp_unit = \"ms\"",
            "sources.s.timestamp_unit",
            "no timestamp",
        ),
        ("event = \"{{ payload. }}\"", "sources.s.event", "syntax"),
        ("accepted_status = 201", "sources.s.accepted_status", "200"),
        (
            "hedaer = \"x\"",
            "sources.s.hedaer",
            "did you mean `header`",
        ),
    ];
    for (options, path, words) in cases {
        let options = if options.contains("header =") {
            options.to_string()
        } else if options.is_empty() {
            "algorithm = \"sha256\"\nencoding = \"hex\"".into()
        } else {
            format!("{base}{options}")
        };
        let found = problems(&options);
        assert!(
            found
                .iter()
                .any(|(at, message)| at == path && message.contains(words)),
            "{options}: expected {path}: …{words}…, got {found:?}"
        );
    }
}
