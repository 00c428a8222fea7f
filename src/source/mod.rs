//! Inbound sources: verifying a delivery's signature with the source's scheme
//! and normalizing it into an [`Event`].
//!
//! Verification is by type: an [`Event`] can only be made by
//! [`Source::verify`], and only events route to jobs that reach the queue
//! (see [`crate::rules::RuleSet::route`]). The dry run (`purgehook route`)
//! gets an [`Unverified`] instead, which has no path to a queue.

mod body;
mod github;
mod signature;
mod standard;
mod woocommerce;
mod wp_webhooks;

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::{ConfigError, Secret, SourceKind, SourceSettings};
use crate::job::EventRef;

/// A delivery as it arrived: lower-cased header names, query parameters and
/// the raw body, exactly as signed.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Headers, names lower-cased; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// Query-string parameters of the hook URL.
    pub query: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Inbound {
    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A normalized event's data: what rules see.
#[derive(Debug, Clone, Serialize)]
pub struct EventData {
    /// The source id.
    pub source: String,
    /// The event type (`push`, `post.published`, `product.updated`…).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The sender's delivery id, when it sends one.
    pub delivery_id: Option<String>,
    /// The parsed body.
    pub payload: serde_json::Value,
    /// The delivery's headers, lower-case names.
    pub headers: BTreeMap<String, String>,
}

impl EventData {
    /// The reference jobs keep to the event.
    pub fn reference(&self) -> EventRef {
        EventRef {
            source: self.source.clone(),
            event_type: self.event_type.clone(),
            delivery_id: self.delivery_id.clone(),
        }
    }
}

/// A verified event. Only [`Source::verify`] makes one.
#[derive(Debug, Clone)]
pub struct Event(EventData);

impl Deref for Event {
    type Target = EventData;
    fn deref(&self) -> &EventData {
        &self.0
    }
}

/// An event normalized without checking its signature, for dry runs.
#[derive(Debug, Clone)]
pub struct Unverified(EventData);

impl Deref for Unverified {
    type Target = EventData;
    fn deref(&self) -> &EventData {
        &self.0
    }
}

/// What a delivery turned out to be.
#[derive(Debug, Clone)]
pub enum Received<E> {
    /// A ping/test delivery (GitHub `ping`, WooCommerce's webhook ping).
    Ping {
        /// What the sender called it.
        event_type: String,
    },
    /// A real event.
    Event(E),
}

/// Why a delivery was refused. The messages say what is wrong and never
/// contain secrets or expected signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No signature header at all.
    #[error("missing {0} header")]
    MissingSignature(&'static str),
    /// A signature that matches none of the source's secrets.
    #[error("the {0} signature does not match")]
    BadSignature(&'static str),
    /// A timestamp outside the accepted window.
    #[error("webhook-timestamp is {0}s away from now; at most {1}s is accepted")]
    Stale(u64, u64),
    /// A header the scheme needs is missing or malformed.
    #[error("{0}")]
    BadHeader(String),
    /// The body is not what the scheme sends.
    #[error("{0}")]
    BadBody(String),
}

impl VerifyError {
    /// Whether the error is about authenticity (→ 401) rather than shape (→ 400).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            VerifyError::MissingSignature(_)
                | VerifyError::BadSignature(_)
                | VerifyError::Stale(..)
        )
    }
}

/// A configured source: its id, scheme and secrets.
#[derive(Debug, Clone)]
pub struct Source {
    id: String,
    kind: SourceKind,
    secrets: Vec<Secret>,
    tolerance: Duration,
}

impl Source {
    /// Builds a source from its settings, checking that its secrets fit its scheme.
    pub fn new(id: &str, settings: &SourceSettings) -> Result<Source, ConfigError> {
        if settings.secrets.is_empty() {
            return Err(ConfigError::new(
                format!("sources.{id}.secrets"),
                "at least one secret is required",
            ));
        }
        for (index, secret) in settings.secrets.iter().enumerate() {
            if settings.kind == SourceKind::Standard {
                standard::decode_secret(secret)
                    .map_err(|e| ConfigError::new(format!("sources.{id}.secrets[{index}]"), e))?;
            }
        }
        Ok(Source {
            id: id.to_string(),
            kind: settings.kind,
            secrets: settings.secrets.clone(),
            tolerance: settings.tolerance,
        })
    }

    /// The source id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scheme.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Checks the delivery's signature against every secret of the source
    /// (in constant time), then normalizes it.
    pub fn verify(
        &self,
        inbound: &Inbound,
        now: SystemTime,
    ) -> Result<Received<Event>, VerifyError> {
        let ping = match self.kind {
            SourceKind::Github => github::verify(inbound, &self.secrets)?,
            SourceKind::Standard => standard::verify(inbound, &self.secrets, now, self.tolerance)?,
            SourceKind::WpWebhooks => wp_webhooks::verify(inbound, &self.secrets)?,
            SourceKind::Woocommerce => woocommerce::verify(inbound, &self.secrets)?,
        };
        if let Some(event_type) = ping {
            return Ok(Received::Ping { event_type });
        }
        Ok(match self.normalize(inbound)? {
            Received::Ping { event_type } => Received::Ping { event_type },
            Received::Event(data) => Received::Event(Event(data)),
        })
    }

    /// Normalizes a delivery without checking its signature (dry runs).
    pub fn preview(&self, inbound: &Inbound) -> Result<Received<Unverified>, VerifyError> {
        Ok(match self.normalize(inbound)? {
            Received::Ping { event_type } => Received::Ping { event_type },
            Received::Event(data) => Received::Event(Unverified(data)),
        })
    }

    fn normalize(&self, inbound: &Inbound) -> Result<Received<EventData>, VerifyError> {
        match self.kind {
            SourceKind::Github => github::normalize(&self.id, inbound),
            SourceKind::Standard => standard::normalize(&self.id, inbound),
            SourceKind::WpWebhooks => wp_webhooks::normalize(&self.id, inbound),
            SourceKind::Woocommerce => woocommerce::normalize(&self.id, inbound),
        }
    }

    /// The headers that make `body` a validly signed delivery of `event_type`
    /// for this source, signed with its first secret, as the real sender
    /// would send them.
    pub fn sign(&self, body: &[u8], event_type: &str, now: SystemTime) -> Vec<(String, String)> {
        let secret = &self.secrets[0];
        match self.kind {
            SourceKind::Github => github::sign(secret, body, event_type),
            SourceKind::Standard => standard::sign(secret, body, now),
            SourceKind::WpWebhooks => wp_webhooks::sign(secret, body),
            SourceKind::Woocommerce => woocommerce::sign(secret, body, event_type),
        }
    }
}

/// Builds every configured source; errors name the source and key.
pub fn build_all(
    settings: &BTreeMap<String, SourceSettings>,
) -> Result<BTreeMap<String, Source>, Vec<ConfigError>> {
    let mut sources = BTreeMap::new();
    let mut errors = Vec::new();
    for (id, source) in settings {
        match Source::new(id, source) {
            Ok(source) => {
                sources.insert(id.clone(), source);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

fn event_data(
    source: &str,
    event_type: String,
    delivery_id: Option<String>,
    payload: serde_json::Value,
    inbound: &Inbound,
) -> EventData {
    EventData {
        source: source.to_string(),
        event_type,
        delivery_id,
        payload,
        headers: inbound.headers.clone(),
    }
}

#[cfg(test)]
mod tests;
