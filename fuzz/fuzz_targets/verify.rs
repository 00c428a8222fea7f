//! The senders' verifiers: any headers, query and body give an event, a
//! ping or a refusal, never a panic; and the same body signed as the sender
//! signs it is never refused as unauthenticated.

#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use purgehook::app::Prepared;
use purgehook::source::{Inbound, Source};

/// One source per scheme (an `hmac` one in Shopify's form, a `token` one
/// reading a header).
const SCHEMES: [&str; 7] = [
    "github",
    "standard",
    "wp-webhooks",
    "woocommerce",
    "hmac",
    "contentful",
    "token",
];

/// Header names the schemes read, so that the fuzzer reaches past them.
const NAMES: [&str; 14] = [
    "x-hub-signature-256",
    "x-github-event",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-wp-webhook-signature",
    "x-wc-webhook-signature",
    "x-wc-webhook-topic",
    "x-wc-webhook-delivery-id",
    "x-shopify-hmac-sha256",
    "x-contentful-signature",
    "x-contentful-timestamp",
    "x-contentful-signed-headers",
    "authorization",
];

static SOURCES: LazyLock<BTreeMap<String, Source>> = LazyLock::new(|| {
    let mut toml = String::new();
    for kind in SCHEMES {
        let (secret, extra) = match kind {
            "standard" => ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""),
            "contentful" => ("Contentful64charactersSecretOfASpace_0123456789abcdefABCDEFG-+/=", ""),
            "hmac" => (
                "a sender's secret",
                "header = \"X-Shopify-Hmac-Sha256\"\nalgorithm = \"sha256\"\nencoding = \"base64\"\n",
            ),
            "token" => ("a sender's secret", "header = \"Authorization\"\nprefix = \"Bearer \"\n"),
            _ => ("a sender's secret", ""),
        };
        toml.push_str(&format!(
            "[sources.{kind}]\nkind = \"{kind}\"\nsecrets = [\"{secret}\"]\n{extra}"
        ));
    }
    let loaded = purgehook::config::from_toml(&toml, Path::new("fuzz.toml"), vec![]).unwrap();
    Prepared::new(loaded).unwrap().sources
});

#[derive(Arbitrary, Debug)]
struct Delivery {
    scheme: u8,
    headers: Vec<(u8, String)>,
    event: Option<String>,
    body: Vec<u8>,
    seconds: u32,
}

fuzz_target!(|delivery: Delivery| {
    let source = &SOURCES[SCHEMES[usize::from(delivery.scheme) % SCHEMES.len()]];
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(delivery.seconds));
    let headers = delivery
        .headers
        .into_iter()
        .map(|(name, value)| (NAMES[usize::from(name) % NAMES.len()].to_string(), value))
        .collect();
    let query = delivery.event.into_iter().map(|e| ("event".to_string(), e)).collect();
    let path = format!("/hooks/{}", source.id());
    let inbound = Inbound { headers, query, path, body: delivery.body };
    let _ = source.verify(&inbound, now);
    signed_is_accepted(source, &inbound.body, now);
});

fn signed_is_accepted(source: &Source, body: &[u8], now: SystemTime) {
    let signed = source.sign(body, None, now).unwrap();
    let inbound = Inbound {
        headers: signed.headers.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect(),
        query: signed.query.into_iter().collect(),
        path: format!("/hooks/{}", source.id()),
        body: body.to_vec(),
    };
    if let Err(error) = source.verify(&inbound, now) {
        assert!(!error.is_unauthenticated(), "a signed delivery was refused: {error}");
    }
}
