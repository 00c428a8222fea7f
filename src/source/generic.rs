//! What the configurable kinds (`hmac`, `token`, `contentful`) share: the
//! event type and the delivery id as templates over the delivery
//! (`payload`, `headers`, `query`), compiled when the configuration loads;
//! the event types answered as pings; and the status of an accepted event.
//! Where a template reads one header or query parameter
//! (`{{ headers['x-shopify-topic'] }}`), `sign` and `route --event` put the
//! event there, as the sender does.

use minijinja::value::Value;
use wildmatch::WildMatch;

use super::scheme::Signed;
use super::{EventData, Inbound, Received, VerifyError, event_data};
use crate::config::{Fields, Read};
use crate::template::{Compiled, Payload, compile_template};

/// A header name from the configuration: a non-empty HTTP token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderName(pub String);

impl<'de> serde::Deserialize<'de> for HeaderName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let name = name.trim();
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(serde::de::Error::custom(format!(
                "{name:?} is not a header name (letters, digits and - _ . ! # $ % & ' * + ^ ` | ~)"
            )));
        }
        Ok(HeaderName(name.to_string()))
    }
}

/// How a configurable source names its events.
pub struct Naming {
    event: Template,
    delivery_id: Option<Template>,
    ping: Vec<WildMatch>,
    accepted_status: u16,
}

/// A compiled template and the one place it reads, if any.
struct Template {
    text: String,
    compiled: Compiled,
    place: Option<Place>,
}

/// Where a sender puts a value the template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Header(String),
    Query(String),
}

impl Naming {
    /// Reads `event` (default `default_event`), `delivery_id` (default
    /// `default_delivery`), `ping` and `accepted_status`.
    pub fn read(
        fields: &mut Fields<'_>,
        default_event: &str,
        default_delivery: Option<&str>,
    ) -> Read<Naming> {
        let event = fields
            .or("event", default_event.to_string())
            .and_then(|text| Template::compile(fields, "event", text));
        let delivery_id = match fields.optional::<String>("delivery_id") {
            Ok(text) => text
                .or_else(|| default_delivery.map(str::to_string))
                .map(|text| Template::compile(fields, "delivery_id", text))
                .transpose(),
            Err(invalid) => Err(invalid),
        };
        let ping: Read<Vec<String>> = fields.list("ping");
        let accepted_status = match fields.or("accepted_status", 202_u16) {
            Ok(status @ (200 | 202)) => Ok(status),
            Ok(_) => Err(fields.problem(
                "accepted_status",
                "expected 202 (the default) or 200 (for senders that retry anything else)",
            )),
            Err(invalid) => Err(invalid),
        };
        Ok(Naming {
            event: event?,
            delivery_id: delivery_id?,
            ping: ping?.iter().map(|glob| WildMatch::new(glob)).collect(),
            accepted_status: accepted_status?,
        })
    }

    /// The event (or ping) a delivery with this `payload` is.
    pub fn name(
        &self,
        source: &str,
        inbound: &Inbound,
        payload: Payload,
    ) -> Result<Received<EventData>, VerifyError> {
        let ctx = minijinja::context! {
            payload => payload.template_value(),
            headers => Value::from_serialize(&inbound.headers),
            query => Value::from_serialize(&inbound.query),
        };
        let event_type = self.event.render(&ctx)?.ok_or_else(|| {
            VerifyError::BadBody(format!(
                "the source's event template {:?} gives no event type for this delivery",
                self.event.text
            ))
        })?;
        if self.ping.iter().any(|glob| glob.matches(&event_type)) {
            return Ok(Received::Ping { event_type });
        }
        let delivery = match &self.delivery_id {
            Some(template) => template.render(&ctx)?,
            None => None,
        };
        Ok(Received::Event(event_data(
            source, event_type, delivery, payload, inbound,
        )))
    }

    /// Puts `event_type` where the event template reads it.
    pub fn name_event(&self, inbound: &mut Inbound, event_type: &str) {
        match &self.event.place {
            Some(Place::Header(name)) => {
                inbound.headers.insert(name.clone(), event_type.into());
            }
            Some(Place::Query(name)) => {
                inbound.query.insert(name.clone(), event_type.into());
            }
            None => {}
        }
    }

    /// The headers and query of a delivery made by hand: the event type and
    /// a fresh delivery id where the templates read them.
    pub fn sign(&self, event_type: &str) -> Signed {
        let mut signed = Signed::default();
        let delivery = uuid::Uuid::now_v7().to_string();
        let places = [
            (self.event.place.as_ref(), event_type),
            (
                self.delivery_id.as_ref().and_then(|t| t.place.as_ref()),
                delivery.as_str(),
            ),
        ];
        for (place, value) in places {
            match place {
                Some(Place::Header(name)) => signed.headers.push((name.clone(), value.into())),
                Some(Place::Query(name)) => signed.query.push((name.clone(), value.into())),
                None => {}
            }
        }
        signed
    }

    /// The status of an accepted event (202, or 200).
    pub fn accepted_status(&self) -> u16 {
        self.accepted_status
    }
}

impl Template {
    fn compile(fields: &mut Fields<'_>, key: &'static str, text: String) -> Read<Template> {
        match compile_template(&text) {
            Ok(compiled) => Ok(Template {
                place: place(&text),
                text,
                compiled,
            }),
            Err(error) => Err(fields.problem(key, error.to_string())),
        }
    }

    /// The rendered text; `None` when it is undefined, none or empty.
    fn render(&self, ctx: &Value) -> Result<Option<String>, VerifyError> {
        let value = self.compiled.eval(ctx).map_err(|error| {
            VerifyError::BadBody(format!(
                "the source's template {:?} failed on this delivery: {}",
                self.text,
                crate::template::TemplateError::from(error)
            ))
        })?;
        if value.is_undefined() || value.is_none() {
            return Ok(None);
        }
        let text = match value.as_str() {
            Some(text) => text.trim().to_string(),
            None => value.to_string(),
        };
        Ok((!text.is_empty()).then_some(text))
    }
}

/// The first header or query parameter a template reads
/// (`headers['name']`, `headers["name"]`, `headers.name`, same for `query`).
fn place(template: &str) -> Option<Place> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found: Option<(usize, Place)> = None;
    for variable in ["headers", "query"] {
        for (at, _) in template.match_indices(variable) {
            if template[..at].chars().next_back().is_some_and(is_word) {
                continue;
            }
            let Some(name) = accessed_name(&template[at + variable.len()..]) else {
                continue;
            };
            if found.as_ref().is_none_or(|(first, _)| at < *first) {
                let place = match variable {
                    "headers" => Place::Header(name.to_ascii_lowercase()),
                    _ => Place::Query(name.to_string()),
                };
                found = Some((at, place));
            }
            break;
        }
    }
    found.map(|(_, place)| place)
}

/// The name in `['name']`, `["name"]` or `.name` at the start of `rest`.
fn accessed_name(rest: &str) -> Option<&str> {
    if let Some(field) = rest.strip_prefix('.') {
        let end = field
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(field.len());
        return (end > 0).then(|| &field[..end]);
    }
    let inner = rest.strip_prefix('[')?.trim_start();
    let quote = inner.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &inner[1..];
    let end = inner.find(quote)?;
    inner[end + 1..]
        .trim_start()
        .starts_with(']')
        .then(|| &inner[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_place_a_template_reads_is_found() {
        let header = |name: &str| Some(Place::Header(name.into()));
        assert_eq!(
            place("{{ headers['X-Shopify-Topic'] }}"),
            header("x-shopify-topic")
        );
        assert_eq!(
            place(r#"{{ headers["x-strapi-event"] or payload.event }}"#),
            header("x-strapi-event")
        );
        assert_eq!(
            place("{{ payload.event or query.event or 'ghost' }}"),
            Some(Place::Query("event".into()))
        );
        assert_eq!(place("{{ payload.type }}"), None);
        assert_eq!(place("webhook"), None);
    }
}
