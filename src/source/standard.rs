//! Standard Webhooks: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (space-separated `v1,<base64>` entries) over
//! `{id}.{timestamp}.{body}`, with `whsec_`-prefixed base64 secrets and a
//! timestamp tolerance (`tolerance`, ±5 minutes by default). The event type
//! is the payload's `type`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::signature::{hmac_sha256, matches_any};
use super::{EventData, Inbound, Received, VerifyError, body, event_data};
use crate::config::{Fields, Read};
use crate::secret::Secret;
use crate::units::HumaneDuration;

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "standard",
    build,
};

/// The default largest clock difference accepted.
const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

fn build(fields: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    let tolerance = fields
        .value_or("tolerance", HumaneDuration(DEFAULT_TOLERANCE))
        .0;
    Ok(Box::new(Standard { tolerance }))
}

struct Standard {
    tolerance: Duration,
}

/// The key bytes of a `whsec_<base64>` secret.
pub fn decode_secret(secret: &Secret) -> Result<Vec<u8>, String> {
    let encoded = secret.expose();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    BASE64.decode(encoded).map_err(|_| {
        "a Standard Webhooks secret is base64, optionally prefixed with whsec_ \
         (`purgehook secret` prints a fresh one)"
            .into()
    })
}

fn header<'a>(inbound: &'a Inbound, name: &'static str) -> Result<&'a str, VerifyError> {
    inbound
        .header(name)
        .map(str::trim)
        .ok_or_else(|| VerifyError::MissingSignature(format!("{name} header").into()))
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Scheme for Standard {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        let id = header(inbound, "webhook-id")?;
        let timestamp = header(inbound, "webhook-timestamp")?;
        let signatures = header(inbound, "webhook-signature")?;
        let sent: u64 = timestamp.parse().map_err(|_| {
            VerifyError::BadHeader("webhook-timestamp is not a Unix time in seconds".into())
        })?;
        let skew = unix_seconds(now).abs_diff(sent);
        if skew > self.tolerance.as_secs() {
            return Err(VerifyError::Stale {
                what: "webhook-timestamp".into(),
                skew,
                tolerance: self.tolerance.as_secs(),
            });
        }
        // Every secret was checked at start-up; one that does not decode
        // verifies nothing.
        let keys: Vec<Vec<u8>> = secrets.iter().flat_map(decode_secret).collect();
        let parts: [&[u8]; 5] = [
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            &inbound.body,
        ];
        let matched = signatures
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .any(|provided| matches_any(keys.iter().map(Vec::as_slice), &parts, &provided));
        if matched {
            Ok(None)
        } else {
            Err(VerifyError::BadSignature("webhook-signature".into()))
        }
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        let payload = body::parse(inbound)?;
        let event_type = payload.top_level_str("type").ok_or_else(|| {
            VerifyError::BadBody("the payload has no string field \"type\"".into())
        })?;
        let delivery = inbound.header("webhook-id").map(str::to_string);
        Ok(Received::Event(event_data(
            source, event_type, delivery, payload, inbound,
        )))
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let body = delivery.body;
        let now = delivery.now;
        let key = decode_secret(secret).map_err(SignError)?;
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let timestamp = unix_seconds(now).to_string();
        let mac = hmac_sha256(
            &key,
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        );
        Ok(Signed {
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("webhook-id".into(), id),
                ("webhook-timestamp".into(), timestamp),
                (
                    "webhook-signature".into(),
                    format!("v1,{}", BASE64.encode(mac)),
                ),
            ],
            query: Vec::new(),
        })
    }

    fn name_event(&self, _inbound: &mut Inbound, _event_type: &str) {}

    fn default_event(&self) -> &'static str {
        "push"
    }

    fn check_secret(&self, secret: &Secret) -> Result<(), String> {
        decode_secret(secret).map(drop)
    }
}
