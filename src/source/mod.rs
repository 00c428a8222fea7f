//! Inbound sources: verifying a delivery's signature with the source's
//! [`Scheme`](scheme::Scheme) and normalizing it into an [`Event`].
//!
//! Verification is by type: an [`Event`] can only be made by
//! [`Source::verify`], and only events route to jobs that reach the queue
//! (see [`crate::rules::RuleSet::route`]). The dry run (`purgehook route`)
//! gets an [`Unverified`] instead, which has no path to a queue.

mod body;
mod contentful;
mod generic;
mod github;
mod hmac_kind;
mod registry;
pub mod scheme;
mod signature;
mod standard;
mod token;
mod woocommerce;
mod wp_webhooks;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::{Problems, SourceSettings};
use crate::job::EventRef;
use crate::secret::Secret;
use crate::template::Payload;
use scheme::{Delivery, Scheme, SignError, Signed};

/// A delivery as it arrived: lower-cased header names, query parameters,
/// the request's path and the raw body, exactly as signed.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Headers, names lower-cased; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// Query-string parameters of the hook URL.
    pub query: BTreeMap<String, String>,
    /// The request target as received: path and query (`/hooks/cms?x=1`),
    /// for senders that sign it (Contentful). Empty in dry runs.
    pub path: String,
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
    /// The body, read lazily; shared with the templates that read it.
    pub payload: Payload,
    /// The delivery's headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The hook URL's query parameters.
    pub query: BTreeMap<String, String>,
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
    /// No signature (header or token) at all.
    #[error("missing {0}")]
    MissingSignature(Cow<'static, str>),
    /// A signature that matches none of the source's secrets.
    #[error("the {0} signature does not match")]
    BadSignature(Cow<'static, str>),
    /// A token that matches none of the source's secrets.
    #[error("the {0} does not match")]
    BadToken(Cow<'static, str>),
    /// A signed timestamp outside the accepted window.
    #[error("{what} is {skew}s away from now; at most {tolerance}s is accepted")]
    Stale {
        /// Where the timestamp was (`webhook-timestamp`).
        what: Cow<'static, str>,
        /// How far it is from now, in seconds.
        skew: u64,
        /// The tolerance, in seconds.
        tolerance: u64,
    },
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
                | VerifyError::BadToken(_)
                | VerifyError::Stale { .. }
        )
    }
}

/// A configured source: its id, scheme and secrets.
#[derive(Clone)]
pub struct Source {
    id: String,
    kind: &'static str,
    secrets: Vec<Secret>,
    scheme: Arc<dyn Scheme>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Builds the source `id` from its settings: its scheme reads its own
    /// keys and checks that the secrets fit it. `None` when anything is
    /// wrong (every problem is recorded).
    pub fn new(id: &str, settings: &SourceSettings, problems: &mut Problems) -> Option<Source> {
        let path = &settings.options.path;
        let Some(kind) = settings.kind.as_deref() else {
            problems.at(
                format!("{path}.kind"),
                format!("missing; expected one of {}", registry::names()),
            );
            return None;
        };
        let Some(registration) = registry::find(kind) else {
            problems.at(
                format!("{path}.kind"),
                format!(
                    "unknown kind {kind:?}; expected one of {}",
                    registry::names()
                ),
            );
            return None;
        };
        let mut fields = settings.options.fields(problems);
        let built = (registration.build)(&mut fields);
        let finished = fields.finish();
        let scheme: Arc<dyn Scheme> = Arc::from(built.ok()?);
        let mut fits = true;
        for (index, secret) in settings.secrets.iter().enumerate() {
            if let Err(problem) = scheme.check_secret(secret) {
                problems.at(format!("{path}.secrets[{index}]"), problem);
                fits = false;
            }
        }
        (finished.is_ok() && fits).then(|| Source {
            id: id.to_string(),
            kind: registration.name,
            secrets: settings.secrets.clone(),
            scheme,
        })
    }

    /// The source id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scheme's name (`github`, `standard`…).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The secrets (for summaries: [`Secret::origin`]).
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// Checks the delivery's signature against every secret of the source
    /// (in constant time), then normalizes it.
    pub fn verify(
        &self,
        inbound: &Inbound,
        now: SystemTime,
    ) -> Result<Received<Event>, VerifyError> {
        if let Some(event_type) = self.scheme.verify(inbound, &self.secrets, now)? {
            return Ok(Received::Ping { event_type });
        }
        Ok(match self.scheme.normalize(&self.id, inbound)? {
            Received::Ping { event_type } => Received::Ping { event_type },
            Received::Event(data) => Received::Event(Event(data)),
        })
    }

    /// Normalizes a delivery without checking its signature (dry runs);
    /// `event_type`, when given, is put where the sender puts it.
    pub fn preview(
        &self,
        mut inbound: Inbound,
        event_type: Option<&str>,
    ) -> Result<Received<Unverified>, VerifyError> {
        if let Some(event_type) = event_type {
            self.scheme.name_event(&mut inbound, event_type);
        }
        Ok(match self.scheme.normalize(&self.id, &inbound)? {
            Received::Ping { event_type } => Received::Ping { event_type },
            Received::Event(data) => Received::Event(Unverified(data)),
        })
    }

    /// The headers (and query) that make `body` a validly signed delivery of
    /// `event_type` (the scheme's usual one when `None`) for this source,
    /// signed with its first secret, as the real sender would send them.
    pub fn sign(
        &self,
        body: &[u8],
        event_type: Option<&str>,
        now: SystemTime,
    ) -> Result<Signed, SignError> {
        let secret = self
            .secrets
            .first()
            .ok_or_else(|| SignError("the source has no secret".into()))?;
        let delivery = Delivery {
            body,
            event_type: event_type.unwrap_or(self.scheme.default_event()),
            path: &format!("/hooks/{}", self.id),
            now,
        };
        self.scheme.sign(secret, &delivery)
    }

    /// The status an accepted event is answered with: 202, or 200 for
    /// senders that retry anything else (`accepted_status`).
    pub fn accepted_status(&self) -> u16 {
        self.scheme.accepted_status()
    }
}

/// Builds every configured source; problems name the source and key.
pub fn build_all(
    settings: &BTreeMap<String, SourceSettings>,
    problems: &mut Problems,
) -> BTreeMap<String, Source> {
    settings
        .iter()
        .filter_map(|(id, source)| Some((id.clone(), Source::new(id, source, problems)?)))
        .collect()
}

fn event_data(
    source: &str,
    event_type: String,
    delivery_id: Option<String>,
    payload: Payload,
    inbound: &Inbound,
) -> EventData {
    EventData {
        source: source.to_string(),
        event_type,
        delivery_id,
        payload,
        headers: inbound.headers.clone(),
        query: inbound.query.clone(),
    }
}

#[cfg(test)]
mod kinds_tests;
#[cfg(test)]
mod tests;
