//! The `token` and `contentful` kinds, and the keys every configurable kind
//! shares. Contentful vectors: **computed** ones were produced identically
//! by Contentful's official `node-apps-toolkit` `signRequest` and by
//! a Python port of it; the two **third-party** ones come from a
//! public test suite that checks them with the official toolkit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::tests::{configured, delivery_of, expect_event, inbound};
use super::{Received, Source, VerifyError};

const STRAPI: &str = r#"
header = "Authorization"
prefix = "Bearer "
event = "{{ headers['x-strapi-event'] or payload.event }}"
ping = ["trigger-test"]
"#;

const PRISMIC: &str = r#"
field = "secret"
event = "{{ payload.type }}"
ping = ["test-trigger"]
accepted_status = 200
"#;

/// 32 × `a` then 32 × `b`: the secret of every Contentful vector here.
const CONTENTFUL_SECRET: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn make(kind: &str, secret: &str, options: &str) -> Source {
    configured(kind, &[secret], options).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn strapi_tokens_are_compared_after_the_scheme_and_tests_are_pings() {
    let strapi = make("token", "s3cr3t-strapi-token", STRAPI);
    let body =
        br#"{"event":"entry.publish","model":"article","entry":{"id":7,"slug":"hello-world"}}"#;
    let now = SystemTime::now();
    for authorization in [
        "Bearer s3cr3t-strapi-token",
        "bearer   s3cr3t-strapi-token ",
    ] {
        let delivery = inbound(
            &[
                ("Authorization", authorization),
                ("X-Strapi-Event", "entry.publish"),
            ],
            body,
        );
        let event = expect_event(strapi.verify(&delivery, now));
        assert_eq!(event.event_type, "entry.publish");
    }
    for (authorization, expected) in [
        (Some("Bearer s3cr3t-strapi-tokem"), "BadToken"),
        (Some("Basic s3cr3t-strapi-token"), "BadToken"),
        (Some("Bearer "), "BadToken"),
        (None, "MissingSignature"),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let error = strapi.verify(&inbound(&headers, body), now).unwrap_err();
        assert!(
            error.is_unauthenticated() && format!("{error:?}").starts_with(expected),
            "{error:?}"
        );
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
    }
    let test = br#"{"event":"trigger-test","createdAt":"2026-01-01T00:00:00.000Z"}"#;
    let delivery = inbound(
        &[
            ("Authorization", "Bearer s3cr3t-strapi-token"),
            ("X-Strapi-Event", "trigger-test"),
        ],
        test,
    );
    assert!(matches!(
        strapi.verify(&delivery, now),
        Ok(Received::Ping { .. })
    ));
}

#[test]
fn prismic_s_body_token_is_checked_then_removed_from_the_payload() {
    let prismic = make("token", "s3cr3t-prismic", PRISMIC);
    assert_eq!(prismic.accepted_status(), 200);
    let body = br#"{"type":"api-update","documents":["ZjmSnhAAACMA5Lmz"],"domain":"my-repo","secret":"s3cr3t-prismic"}"#;
    let event = expect_event(prismic.verify(&inbound(&[], body), SystemTime::now()));
    assert_eq!(event.event_type, "api-update");
    assert_eq!(event.payload.value().get("secret"), None);
    assert_eq!(event.payload.value()["documents"][0], "ZjmSnhAAACMA5Lmz");
    let wrong = br#"{"type":"api-update","secret":"guess"}"#;
    assert!(matches!(
        prismic.verify(&inbound(&[], wrong), SystemTime::now()),
        Err(VerifyError::BadToken(_))
    ));
    let none = br#"{"type":"api-update","secret":null}"#;
    assert!(matches!(
        prismic.verify(&inbound(&[], none), SystemTime::now()),
        Err(VerifyError::MissingSignature(_))
    ));
    let test = br#"{"type":"test-trigger","domain":"my-repo","secret":"s3cr3t-prismic"}"#;
    assert!(matches!(
        prismic.verify(&inbound(&[], test), SystemTime::now()),
        Ok(Received::Ping { .. })
    ));
}

#[test]
fn token_sources_need_one_carrier() {
    let problems = |options: &str| configured("token", &["s"], options).unwrap_err();
    assert_eq!(problems("")[0].0, "sources.s.header");
    assert!(
        problems("header = \"x\"\nfield = \"y\"")[0]
            .1
            .contains("not both")
    );
    assert!(
        problems("field = \"secret\"\nprefix = \"Bearer \"")[0]
            .1
            .contains("prefix")
    );
    assert!(
        problems("header = \"bad name\"")[0]
            .1
            .contains("not a header name")
    );
}

#[test]
fn a_body_token_is_signed_only_when_the_file_holds_it() {
    let prismic = make("token", "s3cr3t-prismic", PRISMIC);
    let now = SystemTime::now();
    let without = br#"{"type":"api-update"}"#;
    let refused = prismic.sign(without, None, now).unwrap_err().to_string();
    assert!(
        refused.contains("field `secret`") && !refused.contains("s3cr3t"),
        "{refused}"
    );
    let with = br#"{"type":"api-update","secret":"s3cr3t-prismic"}"#;
    let signed = prismic.sign(with, None, now).unwrap();
    assert!(prismic.verify(&delivery_of(&signed, with), now).is_ok());
    let strapi = make("token", "s3cr3t-strapi-token", STRAPI);
    let signed = strapi.sign(with, Some("entry.update"), now).unwrap();
    let event = expect_event(strapi.verify(&delivery_of(&signed, with), now));
    assert_eq!(event.event_type, "entry.update");
}

fn at_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn contentful_delivery(path: &str, headers: &[(&str, &str)], body: &str) -> super::Inbound {
    let mut delivery = inbound(headers, body.as_bytes());
    delivery.path = path.to_string();
    delivery
}

#[test]
fn contentful_s_canonical_requests_verify() {
    let contentful = make("contentful", CONTENTFUL_SECRET, "");
    let signed_at = 1_767_225_600_000;
    // Computed (official toolkit and the Python port agree).
    let body = r#"{"sys":{"id":"5KsDBWseXY6QegucYAoacS","type":"Entry","contentType":{"sys":{"id":"blogPost"}}},"fields":{"slug":{"en-US":"hello-world"}}}"#;
    let computed = contentful_delivery(
        "/hooks/contentful",
        &[
            (
                "Content-Type",
                "application/vnd.contentful.management.v1+json",
            ),
            ("X-Contentful-Topic", "ContentManagement.Entry.publish"),
            ("X-Contentful-Webhook-Name", "purgehook"),
            ("X-Contentful-Idempotency-Key", "not-signed"),
            (
                "x-contentful-signed-headers",
                "content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic,x-contentful-webhook-name",
            ),
            ("x-contentful-timestamp", "1767225600000"),
            (
                "x-contentful-signature",
                "c933de29c09982a4d4110e312d982a9bcc2363615f711f38f3217be6397bd18d",
            ),
        ],
        body,
    );
    let event = expect_event(contentful.verify(&computed, at_millis(signed_at + 5_000)));
    assert_eq!(event.event_type, "ContentManagement.Entry.publish");
    // The idempotency key was not signed: rules do not see it.
    assert_eq!(event.delivery_id, None);
    assert!(!event.headers.contains_key("x-contentful-idempotency-key"));
    assert!(matches!(
        contentful.verify(&computed, at_millis(signed_at + 31_000)),
        Err(VerifyError::Stale { tolerance: 30, .. })
    ));
    let mut tampered = computed.clone();
    tampered.headers.insert(
        "x-contentful-topic".into(),
        "ContentManagement.Entry.unpublish".into(),
    );
    assert!(
        contentful
            .verify(&tampered, at_millis(signed_at))
            .unwrap_err()
            .is_unauthenticated()
    );
    let mut moved = computed;
    moved.path = "/hooks/other".into();
    assert!(
        contentful
            .verify(&moved, at_millis(signed_at))
            .unwrap_err()
            .is_unauthenticated()
    );
}

#[test]
fn contentful_s_third_party_vectors_verify_with_their_paths() {
    let body = r#"{"sys":{"id":"5KsDBWseXY6QegucYAoacS","type":"Entry"},"fields":{"title":{"en-US":"Hello, World!"}}}"#;
    let now = at_millis(1_767_225_600_000);
    let plain = contentful_delivery(
        "/anything",
        &[
            (
                "Content-Type",
                "application/vnd.contentful.management.v1+json",
            ),
            ("X-Contentful-Topic", "ContentManagement.Entry.publish"),
            (
                "x-contentful-signature",
                "8dec81505760a10b542fbc36d3aa0a772b11f759eca7b2351daaf5bba8c7c6f1",
            ),
            (
                "x-contentful-signed-headers",
                "content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic",
            ),
            ("x-contentful-timestamp", "1767225600000"),
        ],
        body,
    );
    // Behind a proxy that rewrote the path, `path` names the one signed.
    let proxied = make(
        "contentful",
        CONTENTFUL_SECRET,
        "path = \"/trigger/SW5zdGFuY2VGbG93Q29uZmlnOjE=\"",
    );
    assert!(proxied.verify(&plain, now).is_ok());
    // A query, and a header value with spaces around it.
    let with_query = contentful_delivery(
        "/trigger/abc?foo=bar baz&x=1",
        &[
            ("x-contentful-webhook-name", " My Hook "),
            (
                "x-contentful-signature",
                "c8c83deb1a865012752f66594e6228056c826fd7227a70361b3a304e124555ec",
            ),
            (
                "x-contentful-signed-headers",
                "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-webhook-name",
            ),
            ("x-contentful-timestamp", "1767225600000"),
        ],
        body,
    );
    let contentful = make(
        "contentful",
        CONTENTFUL_SECRET,
        "event = \"{{ headers['x-contentful-webhook-name'] }}\"",
    );
    let event = expect_event(contentful.verify(&with_query, now));
    assert_eq!(event.event_type, "My Hook");
}

#[test]
fn contentful_signs_what_it_verifies_and_wants_64_character_secrets() {
    let contentful = make("contentful", CONTENTFUL_SECRET, "");
    let body = br#"{"sys":{"id":"x"}}"#;
    let now = SystemTime::now();
    let signed = contentful
        .sign(body, Some("ContentManagement.Entry.unpublish"), now)
        .unwrap();
    let mut delivery = delivery_of(&signed, body);
    delivery.path = "/hooks/s".into();
    let event = expect_event(contentful.verify(&delivery, now));
    assert_eq!(event.event_type, "ContentManagement.Entry.unpublish");
    assert!(event.delivery_id.is_some());
    let short = configured("contentful", &["too-short"], "").unwrap_err();
    assert_eq!(short[0].0, "sources.s.secrets[0]");
    assert!(
        short[0].1.contains("exactly 64") && !short[0].1.contains("too-short"),
        "{short:?}"
    );
}
