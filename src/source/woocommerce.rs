//! WooCommerce webhooks: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256
//! of the body; the event type is `X-WC-Webhook-Topic` (`product.updated`),
//! the delivery id `X-WC-Webhook-Delivery-ID`. When a webhook is saved,
//! WooCommerce pings its URL with an unsigned `webhook_id=<n>` form and
//! refuses to save unless it gets a 2xx: that ping is answered, never routed.

use std::time::SystemTime;

use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::wp_webhooks::{base64_body_mac, verify_base64_body_mac};
use super::{EventData, Inbound, Received, VerifyError, body, event_data};
use crate::config::{Fields, Read};
use crate::secret::Secret;

const SIGNATURE: &str = "x-wc-webhook-signature";

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "woocommerce",
    build,
};

fn build(_: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    Ok(Box::new(WooCommerce))
}

struct WooCommerce;

fn is_ping(inbound: &Inbound) -> bool {
    std::str::from_utf8(&inbound.body)
        .ok()
        .and_then(|b| b.strip_prefix("webhook_id="))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()))
}

impl Scheme for WooCommerce {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        _now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        if inbound.header(SIGNATURE).is_none() && is_ping(inbound) {
            return Ok(Some("ping".into()));
        }
        verify_base64_body_mac(inbound, secrets, SIGNATURE, "X-WC-Webhook-Signature").map(|()| None)
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        if is_ping(inbound) {
            return Ok(Received::Ping {
                event_type: "ping".into(),
            });
        }
        let event_type = inbound
            .header("x-wc-webhook-topic")
            .ok_or_else(|| VerifyError::BadHeader("missing X-WC-Webhook-Topic header".into()))?
            .trim()
            .to_string();
        let payload = body::parse(inbound)?;
        let delivery = inbound
            .header("x-wc-webhook-delivery-id")
            .map(str::to_string);
        Ok(Received::Event(event_data(
            source, event_type, delivery, payload, inbound,
        )))
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let body = delivery.body;
        let event_type = delivery.event_type;
        Ok(Signed {
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-WC-Webhook-Topic".into(), event_type.into()),
                (
                    "X-WC-Webhook-Delivery-ID".into(),
                    uuid::Uuid::now_v7().to_string(),
                ),
                (
                    "X-WC-Webhook-Signature".into(),
                    base64_body_mac(secret, body),
                ),
            ],
            query: Vec::new(),
        })
    }

    fn name_event(&self, inbound: &mut Inbound, event_type: &str) {
        inbound
            .headers
            .insert("x-wc-webhook-topic".into(), event_type.into());
    }

    fn default_event(&self) -> &'static str {
        "product.updated"
    }
}
