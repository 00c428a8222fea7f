//! Standard Webhooks: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (space-separated `v1,<base64>` entries) over
//! `{id}.{timestamp}.{body}`, with `whsec_`-prefixed base64 secrets and a
//! timestamp tolerance (±5 minutes by default). The event type is the
//! payload's `type`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::signature::{hmac_sha256, matches_any};
use super::{EventData, Inbound, Received, VerifyError, body, event_data};
use crate::config::Secret;

/// The key bytes of a `whsec_<base64>` secret.
pub fn decode_secret(secret: &Secret) -> Result<Vec<u8>, String> {
    let encoded = secret.expose();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    BASE64
        .decode(encoded)
        .map_err(|_| "a Standard Webhooks secret is base64, optionally prefixed with whsec_".into())
}

fn header<'a>(inbound: &'a Inbound, name: &'static str) -> Result<&'a str, VerifyError> {
    inbound
        .header(name)
        .map(str::trim)
        .ok_or(VerifyError::MissingSignature(name))
}

pub fn verify(
    inbound: &Inbound,
    secrets: &[Secret],
    now: SystemTime,
    tolerance: Duration,
) -> Result<Option<String>, VerifyError> {
    let id = header(inbound, "webhook-id")?;
    let timestamp = header(inbound, "webhook-timestamp")?;
    let signatures = header(inbound, "webhook-signature")?;
    let sent: u64 = timestamp.parse().map_err(|_| {
        VerifyError::BadHeader("webhook-timestamp is not a Unix time in seconds".into())
    })?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let skew = now.abs_diff(sent);
    if skew > tolerance.as_secs() {
        return Err(VerifyError::Stale(skew, tolerance.as_secs()));
    }
    let keys: Vec<Vec<u8>> = secrets
        .iter()
        .filter_map(|s| decode_secret(s).ok())
        .collect();
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
        Err(VerifyError::BadSignature("webhook-signature"))
    }
}

pub fn normalize(source: &str, inbound: &Inbound) -> Result<Received<EventData>, VerifyError> {
    let payload = body::parse(inbound)?;
    let event_type = payload
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| VerifyError::BadBody("the payload has no string field \"type\"".into()))?
        .to_string();
    let delivery = inbound.header("webhook-id").map(str::to_string);
    Ok(Received::Event(event_data(
        source, event_type, delivery, payload, inbound,
    )))
}

pub fn sign(secret: &Secret, body: &[u8], now: SystemTime) -> Vec<(String, String)> {
    let key = decode_secret(secret).unwrap_or_default();
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let timestamp = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string();
    let mac = hmac_sha256(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("webhook-id".into(), id),
        ("webhook-timestamp".into(), timestamp),
        (
            "webhook-signature".into(),
            format!("v1,{}", BASE64.encode(mac)),
        ),
    ]
}
