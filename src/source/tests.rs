use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

fn settings(kind: &str, secrets: &[&str]) -> SourceSettings {
    SourceSettings {
        kind: Some(kind.to_string()),
        secrets: secrets.iter().map(|s| Secret::from_value(*s)).collect(),
        options: crate::config::Unread {
            path: "sources.s".into(),
            ..Default::default()
        },
    }
}

fn problems() -> Problems {
    Problems::new(std::path::Path::new("test.toml"), Default::default())
}

fn source(kind: &str, secrets: &[&str]) -> Source {
    configured(kind, secrets, "").unwrap_or_else(|errors| panic!("{errors:?}"))
}

/// The source `s` of `kind` with `options` (TOML keys of `[sources.s]`),
/// or every problem found, as `(key path, message)`.
pub(super) fn configured(
    kind: &str,
    secrets: &[&str],
    options: &str,
) -> Result<Source, Vec<(String, String)>> {
    let mut settings = settings(kind, secrets);
    settings.options.table = toml::from_str(options).expect("valid TOML");
    let mut problems = problems();
    let source = Source::new("s", &settings, &mut problems);
    if problems.is_empty() {
        Ok(source.expect("a source when nothing is wrong"))
    } else {
        let errors = problems.into_errors().errors;
        Err(errors.into_iter().map(|e| (e.path, e.message)).collect())
    }
}

pub(super) fn inbound(headers: &[(&str, &str)], body: &[u8]) -> Inbound {
    Inbound {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        ..Inbound::default()
    }
}

/// The delivery a signed result describes.
pub(super) fn delivery_of(signed: &Signed, body: &[u8]) -> Inbound {
    let mut delivery = inbound(
        &signed
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        body,
    );
    delivery.query.extend(signed.query.iter().cloned());
    delivery
}

/// What GitHub sends: hex HMAC-SHA256 of the body.
fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What WP Webhooks and WooCommerce send: base64 HMAC-SHA256 of the body.
fn base64_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

const PUSH: &[u8] = include_bytes!("../../tests/fixtures/github/push-with-new-branch.payload.json");

pub(super) fn expect_event(received: Result<Received<Event>, VerifyError>) -> Event {
    match received.expect("verified") {
        Received::Event(event) => event,
        Received::Ping { .. } => panic!("expected an event, got a ping"),
    }
}

#[test]
fn github_push_fixture_verifies_with_any_rotated_secret() {
    let github = source("github", &["new-secret", "old-secret"]);
    for secret in ["new-secret", "old-secret"] {
        let delivery = inbound(
            &[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ("X-Hub-Signature-256", &github_signature(secret, PUSH)),
            ],
            PUSH,
        );
        let event = expect_event(github.verify(&delivery, SystemTime::now()));
        assert_eq!(event.event_type, "push");
        assert_eq!(
            event.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(event.payload.value()["ref"], "refs/heads/master");
    }
}

#[test]
fn github_refuses_missing_wrong_and_tampered_signatures() {
    let github = source("github", &["secret"]);
    let missing = inbound(&[("X-GitHub-Event", "push")], PUSH);
    assert_eq!(
        github.verify(&missing, SystemTime::now()).unwrap_err(),
        VerifyError::MissingSignature("X-Hub-Signature-256 header".into())
    );
    let wrong = inbound(
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &github_signature("other", PUSH)),
        ],
        PUSH,
    );
    assert!(
        github
            .verify(&wrong, SystemTime::now())
            .unwrap_err()
            .is_unauthenticated()
    );
    let mut tampered = PUSH.to_vec();
    tampered[10] ^= 1;
    let tampered = inbound(
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &github_signature("secret", PUSH)),
        ],
        &tampered,
    );
    assert!(
        github
            .verify(&tampered, SystemTime::now())
            .unwrap_err()
            .is_unauthenticated()
    );
    let garbage = inbound(
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", "sha256=zz"),
        ],
        PUSH,
    );
    assert!(
        github
            .verify(&garbage, SystemTime::now())
            .unwrap_err()
            .is_unauthenticated()
    );
}

#[test]
fn github_ping_and_form_encoded_deliveries() {
    let github = source("github", &["secret"]);
    let ping = include_bytes!("../../tests/fixtures/github/ping-payload.json");
    let delivery = inbound(
        &[
            ("X-GitHub-Event", "ping"),
            ("X-Hub-Signature-256", &github_signature("secret", ping)),
        ],
        ping,
    );
    assert!(matches!(
        github.verify(&delivery, SystemTime::now()),
        Ok(Received::Ping { .. })
    ));

    let form = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(PUSH).collect::<String>()
    );
    let delivery = inbound(
        &[
            ("X-GitHub-Event", "push"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            (
                "X-Hub-Signature-256",
                &github_signature("secret", form.as_bytes()),
            ),
        ],
        form.as_bytes(),
    );
    let event = expect_event(github.verify(&delivery, SystemTime::now()));
    assert_eq!(event.payload.value()["ref"], "refs/heads/master");
}

#[test]
fn signed_but_unparseable_bodies_are_bad_requests() {
    let github = source("github", &["secret"]);
    let body = b"{not json";
    let delivery = inbound(
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &github_signature("secret", body)),
        ],
        body,
    );
    let error = github.verify(&delivery, SystemTime::now()).unwrap_err();
    assert!(!error.is_unauthenticated());
    assert!(error.to_string().contains("not valid JSON"), "{error}");
}

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const POST: &[u8] = br#"{"type":"post.published","timestamp":"2026-11-23T20:31:00Z","data":{"post":{"ID":42,"post_type":"post"}}}"#;

/// Signs as the official Standard Webhooks library does.
fn standard_headers(secret: &str, id: &str, at: SystemTime, body: &[u8]) -> Inbound {
    let signer = standardwebhooks::Webhook::new(secret).unwrap();
    let ts = at.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let signature = signer.sign(id, ts, body).unwrap();
    inbound(
        &[
            ("webhook-id", id),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", &signature),
        ],
        body,
    )
}

#[test]
fn standard_webhooks_signed_by_the_reference_library_verify() {
    let wp = source("standard", &["whsec_b2xkLW9sZC1vbGQtb2xkLW9sZA==", WHSEC]);
    let now = SystemTime::now();
    let delivery = standard_headers(WHSEC, "msg_2Kx", now, POST);
    let event = expect_event(wp.verify(&delivery, now));
    assert_eq!(event.event_type, "post.published");
    assert_eq!(event.delivery_id.as_deref(), Some("msg_2Kx"));
    assert_eq!(event.payload.value()["data"]["post"]["ID"], 42);
}

#[test]
fn standard_webhooks_accept_any_listed_signature_and_refuse_stale_ones() {
    let wp = source("standard", &[WHSEC]);
    let now = SystemTime::now();
    let mut delivery = standard_headers(WHSEC, "msg_1", now, POST);
    let good = delivery.headers["webhook-signature"].clone();
    delivery.headers.insert(
        "webhook-signature".into(),
        format!("v1,Zm9vYmFy {good} v1a,abc"),
    );
    assert!(wp.verify(&delivery, now).is_ok());

    let old = now - Duration::from_secs(301);
    let stale = standard_headers(WHSEC, "msg_2", old, POST);
    assert_eq!(
        wp.verify(&stale, now).unwrap_err(),
        VerifyError::Stale {
            what: "webhook-timestamp".into(),
            skew: 301,
            tolerance: 300
        }
    );
    let future = standard_headers(WHSEC, "msg_3", now + Duration::from_secs(400), POST);
    assert!(matches!(
        wp.verify(&future, now),
        Err(VerifyError::Stale { .. })
    ));

    let mut replayed_id = standard_headers(WHSEC, "msg_4", now, POST);
    replayed_id
        .headers
        .insert("webhook-id".into(), "msg_5".into());
    assert!(
        wp.verify(&replayed_id, now)
            .unwrap_err()
            .is_unauthenticated()
    );
}

#[test]
fn standard_sources_need_base64_secrets() {
    let mut problems = problems();
    let made = Source::new(
        "wp",
        &settings("standard", &["whsec_not base64!"]),
        &mut problems,
    );
    assert!(made.is_none());
    let errors = problems.into_errors().errors;
    assert_eq!(errors[0].path, "sources.s.secrets[0]");
    assert!(
        errors[0].message.contains("purgehook secret"),
        "{}",
        errors[0].message
    );
}

#[test]
fn wp_webhooks_take_the_event_from_their_header_or_the_query() {
    let wp = source("wp-webhooks", &["key"]);
    let body = br#"{"post_id":42,"post":{"post_type":"post"}}"#;
    let mut delivery = inbound(
        &[("X-WP-Webhook-Signature", &base64_signature("key", body))],
        body,
    );
    delivery.query.insert("event".into(), "post_update".into());
    let event = expect_event(wp.verify(&delivery, SystemTime::now()));
    assert_eq!(event.event_type, "post_update");
    delivery
        .headers
        .insert("x-wp-webhook-name".into(), "post_create".into());
    let event = expect_event(wp.verify(&delivery, SystemTime::now()));
    assert_eq!(event.event_type, "post_create");
    delivery.headers.insert(
        "x-wp-webhook-signature".into(),
        base64_signature("nope", body),
    );
    assert!(wp.verify(&delivery, SystemTime::now()).is_err());
}

#[test]
fn woocommerce_topics_and_the_unsigned_save_ping() {
    let woo = source("woocommerce", &["key"]);
    let body = br#"{"id":99,"name":"Mug"}"#;
    let delivery = inbound(
        &[
            ("X-WC-Webhook-Topic", "product.updated"),
            ("X-WC-Webhook-Delivery-ID", "7"),
            ("X-WC-Webhook-Signature", &base64_signature("key", body)),
        ],
        body,
    );
    let event = expect_event(woo.verify(&delivery, SystemTime::now()));
    assert_eq!(
        (event.event_type.as_str(), event.delivery_id.as_deref()),
        ("product.updated", Some("7"))
    );

    let ping = inbound(
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"webhook_id=12",
    );
    assert!(matches!(
        woo.verify(&ping, SystemTime::now()),
        Ok(Received::Ping { .. })
    ));
    let unsigned = inbound(&[("X-WC-Webhook-Topic", "product.updated")], body);
    assert_eq!(
        woo.verify(&unsigned, SystemTime::now()).unwrap_err(),
        VerifyError::MissingSignature("X-WC-Webhook-Signature header".into())
    );
}

#[test]
fn signing_helpers_produce_what_verification_accepts() {
    let now = SystemTime::now();
    for (kind, secret, event) in [
        ("github", "s", "push"),
        ("standard", WHSEC, "post.published"),
        ("wp-webhooks", "s", "wp_webhook"),
        ("woocommerce", "s", "product.updated"),
    ] {
        let src = source(kind, &[secret]);
        let signed = src.sign(POST, Some(event), now).unwrap();
        let delivery = delivery_of(&signed, POST);
        let verified = expect_event(src.verify(&delivery, now));
        assert_eq!(verified.event_type, event, "{kind:?}");
    }
}
