//! GitHub webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
//! body>`, the event type in `X-GitHub-Event`, the delivery id in
//! `X-GitHub-Delivery`; a `ping` is answered without routing.

use std::time::SystemTime;

use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::signature::{hmac_sha256, matches_any};
use super::{EventData, Inbound, Received, VerifyError, body, event_data};
use crate::config::{Fields, Read};
use crate::secret::Secret;

const SIGNATURE: &str = "x-hub-signature-256";

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "github",
    build,
};

fn build(_: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    Ok(Box::new(GitHub))
}

struct GitHub;

impl Scheme for GitHub {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        _now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        let header = inbound
            .header(SIGNATURE)
            .ok_or(VerifyError::MissingSignature(
                "X-Hub-Signature-256 header".into(),
            ))?;
        let provided = header
            .trim()
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(VerifyError::BadSignature("X-Hub-Signature-256".into()))?;
        let keys = secrets.iter().map(|s| s.expose().as_bytes());
        if matches_any(keys, &[&inbound.body], &provided) {
            Ok(None)
        } else {
            Err(VerifyError::BadSignature("X-Hub-Signature-256".into()))
        }
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        let event_type = inbound
            .header("x-github-event")
            .ok_or_else(|| VerifyError::BadHeader("missing X-GitHub-Event header".into()))?
            .trim()
            .to_string();
        if event_type == "ping" {
            return Ok(Received::Ping { event_type });
        }
        let payload = body::parse(inbound)?;
        let delivery = inbound.header("x-github-delivery").map(str::to_string);
        Ok(Received::Event(event_data(
            source, event_type, delivery, payload, inbound,
        )))
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let body = delivery.body;
        let event_type = delivery.event_type;
        let mac = hmac_sha256(secret.expose().as_bytes(), &[body]);
        Ok(Signed {
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-GitHub-Event".into(), event_type.into()),
                ("X-GitHub-Delivery".into(), uuid::Uuid::now_v7().to_string()),
                (
                    "X-Hub-Signature-256".into(),
                    format!("sha256={}", hex::encode(mac)),
                ),
            ],
            query: Vec::new(),
        })
    }

    fn name_event(&self, inbound: &mut Inbound, event_type: &str) {
        inbound
            .headers
            .insert("x-github-event".into(), event_type.into());
    }

    fn default_event(&self) -> &'static str {
        "push"
    }
}
