//! [`Scheme`]: how one kind of sender signs its deliveries and names its
//! events, and what a scheme module gives the registry
//! ([`SchemeRegistration`]).

use std::time::SystemTime;

use super::{EventData, Inbound, Received, VerifyError};
use crate::config::{Fields, Read};
use crate::secret::Secret;

/// A delivery made by hand, signed as the sender would sign it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed {
    /// The headers to send.
    pub headers: Vec<(String, String)>,
    /// Query parameters of the hook URL (the event, for senders that put it there).
    pub query: Vec<(String, String)>,
}

/// A secret that cannot sign for its scheme (checked at start-up, so this
/// only happens for a secret built in code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret cannot sign: {0}")]
pub struct SignError(pub String);

/// One sender's signature scheme.
pub trait Scheme: Send + Sync {
    /// Checks the delivery's signature against every secret (in constant
    /// time). `Some(event type)` for a ping the sender makes unsigned.
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        now: SystemTime,
    ) -> Result<Option<String>, VerifyError>;

    /// Normalizes a delivery into an event (or a ping), without checking it.
    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError>;

    /// The headers (and query) that make `body` a validly signed delivery
    /// of `event_type`, as the real sender sends it.
    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError>;

    /// Puts `event_type` where the sender puts it, in a delivery made by
    /// hand (dry runs). Senders that carry it in the payload ignore it.
    fn name_event(&self, inbound: &mut Inbound, event_type: &str);

    /// The event `sign` uses when none is given.
    fn default_event(&self) -> &'static str;

    /// Checks that a configured secret fits the scheme.
    fn check_secret(&self, _secret: &Secret) -> Result<(), String> {
        Ok(())
    }

    /// The status an accepted event is answered with (202, unless the
    /// sender retries anything but 200).
    fn accepted_status(&self) -> u16 {
        202
    }
}

/// What a delivery made by hand carries.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The body, exactly as sent.
    pub body: &'a [u8],
    /// The event type.
    pub event_type: &'a str,
    /// The hook URL's path (`/hooks/<source>`), for senders that sign it.
    pub path: &'a str,
    /// When it is signed.
    pub now: SystemTime,
}

/// A scheme the registry knows.
pub struct SchemeRegistration {
    /// Its name, as `kind = "…"`.
    pub name: &'static str,
    /// Reads its keys of a `[sources.<id>]` table (recording every problem)
    /// and builds it.
    pub build: fn(&mut Fields<'_>) -> Read<Box<dyn Scheme>>,
}
