//! The `contentful` kind: Contentful's webhook request verification, as its
//! `node-apps-toolkit` (`verifyRequest`) checks it. The hex HMAC-SHA256 in
//! `x-contentful-signature` covers a canonical request: the method, the
//! path (its query escaped, then the whole URI-encoded, as the toolkit
//! does), the headers listed in `x-contentful-signed-headers` (names lower
//! case, values trimmed, sorted, `name:value` joined by `;`, with
//! `x-contentful-timestamp` in milliseconds), and the body, joined by
//! newlines. Secrets are exactly 64 characters; a timestamp more than
//! `tolerance` (30 s, the toolkit's default) from now is refused. Rules see
//! only the headers Contentful signed. The event type is
//! `X-Contentful-Topic`, the delivery id `X-Contentful-Idempotency-Key`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::generic::Naming;
use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::signature::{Algorithm, hmac_sha256, matches_any_with};
use super::{EventData, Inbound, Received, VerifyError, body};
use crate::config::{Fields, Read};
use crate::secret::Secret;
use crate::units::HumaneDuration;

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "contentful",
    build,
};

const SIGNATURE: &str = "x-contentful-signature";
const SIGNED_HEADERS: &str = "x-contentful-signed-headers";
const TIMESTAMP: &str = "x-contentful-timestamp";
/// Contentful's webhooks are POST requests (and `/hooks/<id>` takes no other).
const METHOD: reqwest::Method = reqwest::Method::POST;
/// The toolkit's default time to live.
const DEFAULT_TOLERANCE: Duration = Duration::from_secs(30);

struct Contentful {
    tolerance: Duration,
    /// The path Contentful signed, when a proxy rewrites it.
    path: Option<String>,
    naming: Naming,
}

fn build(fields: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    let tolerance: Read<HumaneDuration> = fields.or("tolerance", HumaneDuration(DEFAULT_TOLERANCE));
    let path: Read<Option<String>> = fields.optional("path");
    let naming = Naming::read(
        fields,
        "{{ headers['x-contentful-topic'] }}",
        Some("{{ headers['x-contentful-idempotency-key'] }}"),
    );
    let path = match path? {
        Some(path) if !path.starts_with('/') => {
            return Err(fields.problem("path", "expected a path starting with /"));
        }
        path => path,
    };
    Ok(Box::new(Contentful {
        tolerance: tolerance?.0,
        path,
        naming: naming?,
    }))
}

/// JavaScript's `encodeURIComponent` (Node's `querystring.escape`) when
/// `also_keep` is empty, its `encodeURI` with `;,/?:@&=+$#`.
fn js_encode(text: &str, also_keep: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c) || also_keep.contains(c) {
            encoded.push(c);
        } else {
            let mut buffer = [0; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    encoded
}

/// The toolkit's `getNormalizedEncodedURI`: the query escaped as a
/// component, then the whole encoded as a URI (so `%` is encoded twice).
fn normalized_path(path: &str) -> String {
    let joined = match path.split_once('?') {
        Some((pathname, query)) if !query.is_empty() => {
            format!("{pathname}?{}", js_encode(query, ""))
        }
        Some((pathname, _)) => pathname.to_string(),
        None => path.to_string(),
    };
    js_encode(&joined, ";,/?:@&=+$#")
}

/// The names `x-contentful-signed-headers` lists, lower case, trimmed.
fn listed(inbound: &Inbound) -> Option<Vec<String>> {
    let list = inbound.header(SIGNED_HEADERS)?;
    Some(
        list.split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect(),
    )
}

/// The canonical request the toolkit signs.
fn canonical(method: &str, path: &str, inbound: &Inbound, timestamp: u64) -> Vec<u8> {
    let names = listed(inbound).unwrap_or_default();
    let mut picked: Vec<(String, String)> = inbound
        .headers
        .iter()
        .filter(|(name, _)| names.contains(name) && *name != SIGNED_HEADERS && *name != TIMESTAMP)
        .map(|(name, value)| (name.clone(), value.trim().to_string()))
        .collect();
    let mut signed_names: Vec<&str> = picked.iter().map(|(name, _)| name.as_str()).collect();
    signed_names.extend([SIGNED_HEADERS, TIMESTAMP]);
    signed_names.sort_unstable();
    let signed_names = signed_names.join(",");
    picked.push((SIGNED_HEADERS.into(), signed_names));
    picked.push((TIMESTAMP.into(), timestamp.to_string()));
    picked.sort();
    let headers: Vec<String> = picked.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    let mut text = format!(
        "{method}\n{}\n{}\n",
        normalized_path(path),
        headers.join(";")
    )
    .into_bytes();
    text.extend_from_slice(&inbound.body);
    text
}

fn millis(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl Scheme for Contentful {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        let missing = |name: &str| VerifyError::MissingSignature(format!("{name} header").into());
        let provided = inbound
            .header(SIGNATURE)
            .ok_or_else(|| missing(SIGNATURE))?;
        let sent = inbound
            .header(TIMESTAMP)
            .ok_or_else(|| missing(TIMESTAMP))?;
        listed(inbound).ok_or_else(|| missing(SIGNED_HEADERS))?;
        let sent: u64 = sent.trim().parse().map_err(|_| {
            VerifyError::BadHeader(format!("{TIMESTAMP} is not a Unix time in milliseconds"))
        })?;
        let path = self.path.as_deref().unwrap_or(&inbound.path);
        let message = canonical(METHOD.as_str(), path, inbound, sent);
        let keys = secrets.iter().map(|s| s.expose().as_bytes());
        let matched = hex::decode(provided.trim()).is_ok_and(|provided| {
            matches_any_with(Algorithm::Sha256, keys, &[&message], &provided)
        });
        if !matched {
            return Err(VerifyError::BadSignature(SIGNATURE.into()));
        }
        let skew = millis(now).abs_diff(sent);
        if u128::from(skew) > self.tolerance.as_millis() {
            return Err(VerifyError::Stale {
                what: TIMESTAMP.into(),
                skew: skew / 1000,
                tolerance: self.tolerance.as_secs(),
            });
        }
        Ok(None)
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        let payload = body::parse(inbound)?;
        // What Contentful did not sign could have been changed on the way.
        let mut signed = inbound.clone();
        if let Some(names) = listed(inbound) {
            signed.headers.retain(|name, _| {
                names.contains(name)
                    || [SIGNATURE, SIGNED_HEADERS, TIMESTAMP].contains(&name.as_str())
            });
        }
        self.naming.name(source, &signed, payload)
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let mut signed = self.naming.sign(delivery.event_type);
        signed.headers.insert(
            0,
            (
                "Content-Type".into(),
                "application/vnd.contentful.management.v1+json".into(),
            ),
        );
        signed
            .headers
            .push(("X-Contentful-Webhook-Name".into(), "purgehook".into()));
        let mut names: Vec<String> = signed
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        names.extend([SIGNED_HEADERS.into(), TIMESTAMP.into()]);
        names.sort();
        let timestamp = millis(delivery.now);
        let inbound = Inbound {
            headers: signed
                .headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
                .chain([(SIGNED_HEADERS.to_string(), names.join(","))])
                .collect(),
            body: delivery.body.to_vec(),
            ..Inbound::default()
        };
        let path = self.path.as_deref().unwrap_or(delivery.path);
        let mac = hmac_sha256(
            secret.expose().as_bytes(),
            &[&canonical(METHOD.as_str(), path, &inbound, timestamp)],
        );
        signed.headers.extend([
            ("x-contentful-signed-headers".into(), names.join(",")),
            ("x-contentful-timestamp".into(), timestamp.to_string()),
            ("x-contentful-signature".into(), hex::encode(mac)),
        ]);
        Ok(signed)
    }

    fn name_event(&self, inbound: &mut Inbound, event_type: &str) {
        self.naming.name_event(inbound, event_type);
    }

    fn default_event(&self) -> &'static str {
        "ContentManagement.Entry.publish"
    }

    fn check_secret(&self, secret: &Secret) -> Result<(), String> {
        let secret = secret.expose();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "+/=_-".contains(c);
        if secret.chars().count() == 64 && secret.chars().all(allowed) {
            Ok(())
        } else {
            Err(format!(
                "a Contentful signing secret is exactly 64 characters of 0-9 a-z A-Z + / = _ - \
                 (this one has {} characters{})",
                secret.chars().count(),
                if secret.chars().all(allowed) {
                    ""
                } else {
                    ", some of them others"
                }
            ))
        }
    }

    fn accepted_status(&self) -> u16 {
        self.naming.accepted_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_as_the_toolkit_encodes_them() {
        assert_eq!(normalized_path("/hooks/contentful"), "/hooks/contentful");
        // The toolkit's rule (querystring.escape, then encodeURI), recomputed
        // with Python's urllib.parse.quote and the same safe sets.
        assert_eq!(
            normalized_path("/trigger/abc?foo=bar baz&x=1"),
            "/trigger/abc?foo%253Dbar%2520baz%2526x%253D1"
        );
    }
}
