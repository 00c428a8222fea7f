//! The WP Webhooks plugin: `X-WP-Webhook-Signature` is the base64
//! HMAC-SHA256 of the body under the plugin's secret key. The event type is
//! the trigger's name in `X-WP-Webhook-Name` (`post_update`; sent since
//! version 3), else the hook URL's `event` query parameter
//! (`/hooks/wp?event=post_update`, for older versions), else `wp_webhook`.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::signature::{hmac_sha256, matches_any};
use super::{EventData, Inbound, Received, VerifyError, body, event_data};
use crate::config::{Fields, Read};
use crate::secret::Secret;

/// The event type when the delivery names none.
pub const DEFAULT_EVENT: &str = "wp_webhook";

/// The header naming the trigger.
const NAME: &str = "x-wp-webhook-name";

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "wp-webhooks",
    build,
};

fn build(_: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    Ok(Box::new(WpWebhooks))
}

struct WpWebhooks;

/// Verifies a base64 HMAC-SHA256 of the body carried in `header`.
pub fn verify_base64_body_mac(
    inbound: &Inbound,
    secrets: &[Secret],
    header: &'static str,
    display: &'static str,
) -> Result<(), VerifyError> {
    let provided = inbound
        .header(header)
        .ok_or_else(|| VerifyError::MissingSignature(format!("{display} header").into()))?;
    let provided = BASE64
        .decode(provided.trim())
        .map_err(|_| VerifyError::BadSignature(display.into()))?;
    let keys = secrets.iter().map(|s| s.expose().as_bytes());
    if matches_any(keys, &[&inbound.body], &provided) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature(display.into()))
    }
}

/// The base64 HMAC-SHA256 of `body` under `secret`.
pub fn base64_body_mac(secret: &Secret, body: &[u8]) -> String {
    BASE64.encode(hmac_sha256(secret.expose().as_bytes(), &[body]))
}

impl Scheme for WpWebhooks {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        _now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        verify_base64_body_mac(
            inbound,
            secrets,
            "x-wp-webhook-signature",
            "X-WP-Webhook-Signature",
        )
        .map(|()| None)
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        let payload = body::parse(inbound)?;
        let event_type = inbound
            .header(NAME)
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .or(inbound.query.get("event").map(String::as_str))
            .unwrap_or(DEFAULT_EVENT)
            .to_string();
        Ok(Received::Event(event_data(
            source, event_type, None, payload, inbound,
        )))
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let body = delivery.body;
        let event_type = delivery.event_type;
        Ok(Signed {
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-WP-Webhook-Name".into(), event_type.into()),
                (
                    "X-WP-Webhook-Signature".into(),
                    base64_body_mac(secret, body),
                ),
            ],
            query: Vec::new(),
        })
    }

    fn name_event(&self, inbound: &mut Inbound, event_type: &str) {
        inbound.headers.insert(NAME.into(), event_type.into());
    }

    fn default_event(&self) -> &'static str {
        DEFAULT_EVENT
    }
}
