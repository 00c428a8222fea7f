//! The `hmac` kind: any sender that signs its deliveries with an HMAC
//! (Shopify, Ghost, Sanity, Storyblok, …), described by keys: the
//! signature `header`, the `algorithm` (`sha1`, `sha256`, `sha512`), the
//! MAC's `encoding` (`hex`, `base64`, `base64url`), its `prefix`
//! (`sha256=`) or the header's `format` when it has parts
//! (`"t={t},v1={signature}"`), the `signed` content (`"{t}.{body}"`), where
//! the timestamp is (`{t}` in `format`, or `timestamp_header`), its unit and
//! `tolerance`, and the event and delivery id as templates (see
//! [`generic`](super::generic)).

mod layout;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::generic::{HeaderName, Naming};
use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::signature::{Algorithm, Encoding, mac, matches_any_with};
use super::{EventData, Inbound, Received, VerifyError, body};
use crate::config::{Fields, Read};
use crate::secret::Secret;
use crate::units::HumaneDuration;
use layout::{Layout, Parsed, Piece, signed_pieces};

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "hmac",
    build,
};

/// The tolerance of a signed timestamp when none is configured.
const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The unit of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Unit {
    /// Seconds since the Unix epoch.
    #[serde(rename = "s")]
    Seconds,
    /// Milliseconds since the Unix epoch (Ghost, Sanity).
    #[serde(rename = "ms")]
    Milliseconds,
}

impl Unit {
    fn of(self, time: SystemTime) -> u128 {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        match self {
            Unit::Seconds => u128::from(since.as_secs()),
            Unit::Milliseconds => since.as_millis(),
        }
    }

    fn millis(self, count: u128) -> u128 {
        match self {
            Unit::Seconds => count.saturating_mul(1000),
            Unit::Milliseconds => count,
        }
    }
}

/// Where the timestamp is and how it is checked.
struct Timestamp {
    /// Its own header (lower case), or `None` for a part of the signature header.
    header: Option<String>,
    unit: Unit,
    /// `None` when it is not signed (then it is not checked).
    tolerance: Option<Duration>,
    /// Where it is, for messages.
    what: String,
}

struct Hmac {
    /// The signature header, lower case, and as configured.
    header: String,
    display: String,
    algorithm: Algorithm,
    encoding: Encoding,
    layout: Layout,
    timestamp: Option<Timestamp>,
    signed: Vec<Piece>,
    naming: Naming,
}

fn build(fields: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    let header: Read<HeaderName> = fields.required("header");
    let algorithm: Read<Algorithm> = fields.required("algorithm");
    let encoding: Read<Encoding> = fields.required("encoding");
    let layout = read_layout(fields);
    let timestamp_header: Read<Option<HeaderName>> = fields.optional("timestamp_header");
    let unit: Read<Option<Unit>> = fields.optional("timestamp_unit");
    let tolerance: Read<Option<HumaneDuration>> = fields.optional("tolerance");
    let signed = fields
        .or("signed", "{body}".to_string())
        .and_then(|text| signed_pieces(&text).map_err(|e| fields.problem("signed", e)));
    let naming = Naming::read(fields, "webhook", None);
    let header = header?.0;
    let (layout, signed) = (layout?, signed?);
    let read = TimestampKeys {
        header: timestamp_header?.map(|name| name.0),
        unit: unit?,
        tolerance: tolerance?.map(|t| t.0),
    };
    let timestamp = read.timestamp(fields, &layout, &signed, &header)?;
    Ok(Box::new(Hmac {
        header: header.to_ascii_lowercase(),
        display: header,
        algorithm: algorithm?,
        encoding: encoding?,
        layout,
        timestamp,
        signed,
        naming: naming?,
    }))
}

fn read_layout(fields: &mut Fields<'_>) -> Read<Layout> {
    let prefix: Read<Option<String>> = fields.optional("prefix");
    let format: Read<Option<String>> = fields.optional("format");
    match (prefix?, format?) {
        (Some(_), Some(_)) => Err(fields.problem(
            "format",
            "give `prefix` (one MAC after a prefix) or `format` (a header with parts), not both",
        )),
        (None, Some(format)) => Layout::parts(&format).map_err(|e| fields.problem("format", e)),
        (prefix, None) => Ok(Layout::Plain {
            prefix: prefix.unwrap_or_default(),
        }),
    }
}

/// The timestamp keys as read, before they are checked together.
struct TimestampKeys {
    header: Option<String>,
    unit: Option<Unit>,
    tolerance: Option<Duration>,
}

impl TimestampKeys {
    /// What is wrong when there is no timestamp, if anything.
    fn without_timestamp(&self, is_signed: bool) -> Option<(&'static str, &'static str)> {
        const ADD: &str =
            "there is no timestamp: add a `key={t}` part to `format`, or `timestamp_header`";
        if is_signed {
            Some((
                "signed",
                "{t} needs a timestamp: a `key={t}` part in `format`, or `timestamp_header`",
            ))
        } else if self.unit.is_some() {
            Some(("timestamp_unit", ADD))
        } else if self.tolerance.is_some() {
            Some(("tolerance", ADD))
        } else {
            None
        }
    }

    fn timestamp(
        self,
        fields: &mut Fields<'_>,
        layout: &Layout,
        signed: &[Piece],
        signature_header: &str,
    ) -> Read<Option<Timestamp>> {
        let is_signed = signed.contains(&Piece::Timestamp);
        let what = match (layout, &self.header) {
            (_, Some(header)) if layout.has_timestamp() => {
                return Err(fields.problem(
                    "timestamp_header",
                    format!("the signature header's `format` already has the timestamp; {header} would be a second one"),
                ));
            }
            (_, Some(header)) => header.clone(),
            (
                Layout::Parts {
                    timestamp: Some(key),
                    ..
                },
                None,
            ) => {
                format!("the timestamp ({key}= in {signature_header})")
            }
            _ => {
                return match self.without_timestamp(is_signed) {
                    Some((key, message)) => Err(fields.problem(key, message)),
                    None => Ok(None),
                };
            }
        };
        if self.tolerance.is_some() && !is_signed {
            return Err(fields.problem(
                "tolerance",
                "the timestamp is not signed (no {t} in `signed`), so checking it would protect nothing",
            ));
        }
        Ok(Some(Timestamp {
            header: self.header.map(|h| h.to_ascii_lowercase()),
            unit: self.unit.unwrap_or(Unit::Seconds),
            tolerance: is_signed.then(|| self.tolerance.unwrap_or(DEFAULT_TOLERANCE)),
            what,
        }))
    }
}

impl Timestamp {
    /// The timestamp of a delivery, exactly as sent.
    fn find<'a>(&self, inbound: &'a Inbound, parsed: &Parsed<'a>) -> Result<&'a str, VerifyError> {
        let found = match &self.header {
            Some(name) => inbound.header(name).map(str::trim),
            None => parsed.timestamp,
        };
        let found = found.ok_or_else(|| VerifyError::MissingSignature(self.what.clone().into()))?;
        if found.is_empty() || !found.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VerifyError::BadHeader(format!(
                "{} is not a Unix time in {}",
                self.what,
                match self.unit {
                    Unit::Seconds => "seconds",
                    Unit::Milliseconds => "milliseconds",
                }
            )));
        }
        Ok(found)
    }

    /// Refuses a signed timestamp too far from `now`.
    fn check(&self, sent: &str, now: SystemTime) -> Result<(), VerifyError> {
        let Some(tolerance) = self.tolerance else {
            return Ok(());
        };
        let sent: u128 = sent.parse().unwrap_or(u128::MAX);
        let skew = self.unit.millis(self.unit.of(now).abs_diff(sent));
        if skew > tolerance.as_millis() {
            return Err(VerifyError::Stale {
                what: self.what.clone().into(),
                skew: u64::try_from(skew / 1000).unwrap_or(u64::MAX),
                tolerance: tolerance.as_secs(),
            });
        }
        Ok(())
    }
}

impl Hmac {
    fn bad(&self) -> VerifyError {
        VerifyError::BadSignature(self.display.clone().into())
    }

    /// The signed content's parts, read from the delivery.
    fn message<'a>(
        &'a self,
        inbound: &'a Inbound,
        timestamp: &'a str,
    ) -> Result<Vec<&'a [u8]>, VerifyError> {
        self.signed
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => Ok(text.as_bytes()),
                Piece::Body => Ok(inbound.body.as_slice()),
                Piece::Timestamp => Ok(timestamp.as_bytes()),
                Piece::Header(name) => inbound.header(name).map(str::as_bytes).ok_or_else(|| {
                    VerifyError::MissingSignature(format!("{name} header (it is signed)").into())
                }),
            })
            .collect()
    }
}

impl Scheme for Hmac {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        let value = inbound.header(&self.header).ok_or_else(|| {
            VerifyError::MissingSignature(format!("{} header", self.display).into())
        })?;
        let parsed = self.layout.parse(value).ok_or_else(|| self.bad())?;
        let needed = self.signed.contains(&Piece::Timestamp);
        let timestamp = match &self.timestamp {
            Some(timestamp) if needed => Some((timestamp, timestamp.find(inbound, &parsed)?)),
            _ => None,
        };
        let message = self.message(inbound, timestamp.map_or("", |(_, sent)| sent))?;
        let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
        let matched = parsed
            .signatures
            .iter()
            .filter_map(|text| self.encoding.decode(text))
            .any(|provided| {
                matches_any_with(self.algorithm, keys.iter().copied(), &message, &provided)
            });
        if !matched {
            return Err(self.bad());
        }
        if let Some((timestamp, sent)) = timestamp {
            timestamp.check(sent, now)?;
        }
        Ok(None)
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        let payload = body::parse(inbound)?;
        self.naming.name(source, inbound, payload)
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let mut signed = self.naming.sign(delivery.event_type);
        let timestamp = self
            .timestamp
            .as_ref()
            .map(|t| t.unit.of(delivery.now).to_string())
            .unwrap_or_default();
        for piece in &self.signed {
            if let Piece::Header(name) = piece
                && !signed
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
                signed.headers.push((name.clone(), id));
            }
        }
        let inbound = Inbound {
            headers: signed
                .headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
                .collect(),
            body: delivery.body.to_vec(),
            ..Inbound::default()
        };
        let message = self
            .message(&inbound, &timestamp)
            .map_err(|e| SignError(e.to_string()))?;
        let mac = mac(self.algorithm, secret.expose().as_bytes(), &message);
        let value = self.layout.write(&self.encoding.encode(&mac), &timestamp);
        if let Some(Timestamp {
            header: Some(name), ..
        }) = &self.timestamp
        {
            signed.headers.push((name.clone(), timestamp.clone()));
        }
        signed
            .headers
            .insert(0, ("Content-Type".into(), "application/json".into()));
        signed.headers.push((self.display.clone(), value));
        Ok(signed)
    }

    fn name_event(&self, inbound: &mut Inbound, event_type: &str) {
        self.naming.name_event(inbound, event_type);
    }

    fn default_event(&self) -> &'static str {
        "webhook"
    }

    fn accepted_status(&self) -> u16 {
        self.naming.accepted_status()
    }
}

#[cfg(test)]
mod tests;
