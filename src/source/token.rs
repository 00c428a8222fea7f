//! The `token` kind: senders that sign nothing and send a shared secret
//! instead — in a `header` (Strapi, Directus: `Authorization: Bearer …`,
//! after an optional `prefix`), or in a JSON body `field` (Prismic's
//! `secret`). The token is compared with every secret in constant time
//! (both sides hashed first, so not even its length leaks). A body field
//! holding the token is removed from the payload before rules see it.

use std::time::SystemTime;

use super::generic::{HeaderName, Naming};
use super::scheme::{Delivery, Scheme, SchemeRegistration, SignError, Signed};
use super::signature::equals_any;
use super::{EventData, Inbound, Received, VerifyError, body};
use crate::config::{Fields, Read};
use crate::secret::Secret;
use crate::template::Payload;

pub(super) const SCHEME: SchemeRegistration = SchemeRegistration {
    name: "token",
    build,
};

/// Where the token travels.
enum Carrier {
    /// A header, after a prefix such as `Bearer ` (matched ignoring case).
    Header {
        name: String,
        display: String,
        prefix: String,
    },
    /// A top-level or dotted (`a.b`) field of the JSON body.
    Field(Vec<String>),
}

struct Token {
    carrier: Carrier,
    naming: Naming,
}

fn build(fields: &mut Fields<'_>) -> Read<Box<dyn Scheme>> {
    let header: Read<Option<HeaderName>> = fields.optional("header");
    let field: Read<Option<String>> = fields.optional("field");
    let prefix: Read<Option<String>> = fields.optional("prefix");
    let naming = Naming::read(fields, "webhook", None);
    let carrier = match (header?, field?, prefix?) {
        (Some(_), Some(_), _) => {
            return Err(fields.problem(
                "field",
                "give `header` (the token in a header) or `field` (in the JSON body), not both",
            ));
        }
        (None, None, _) => {
            return Err(fields.problem(
                "header",
                "missing; give `header` (the token in a header) or `field` (in the JSON body)",
            ));
        }
        (None, Some(_), Some(_)) => {
            return Err(fields.problem("prefix", "a body field has no prefix"));
        }
        (Some(name), None, prefix) => Carrier::Header {
            name: name.0.to_ascii_lowercase(),
            display: name.0,
            prefix: prefix.unwrap_or_default(),
        },
        (None, Some(field), None) => {
            let path: Vec<String> = field.split('.').map(str::to_string).collect();
            if path.iter().any(|part| part.trim().is_empty()) {
                return Err(
                    fields.problem("field", "expected a field name, or a dotted path (a.b)")
                );
            }
            Carrier::Field(path)
        }
    };
    Ok(Box::new(Token {
        carrier,
        naming: naming?,
    }))
}

/// The value at a dotted `path` of a JSON value.
fn at<'a>(value: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

impl Token {
    fn what(&self) -> String {
        match &self.carrier {
            Carrier::Header { display, .. } => format!("{display} token"),
            Carrier::Field(path) => format!("token in the body field `{}`", path.join(".")),
        }
    }

    /// The token a delivery presents, if any.
    fn presented(&self, inbound: &Inbound) -> Result<String, VerifyError> {
        let missing = || VerifyError::MissingSignature(self.what().into());
        match &self.carrier {
            Carrier::Header { name, prefix, .. } => {
                let value = inbound.header(name).ok_or_else(missing)?.trim();
                let scheme = prefix.trim();
                let token = match value.get(..scheme.len()) {
                    Some(start) if start.eq_ignore_ascii_case(scheme) => &value[scheme.len()..],
                    _ => return Err(VerifyError::BadToken(self.what().into())),
                };
                Ok(token.trim().to_string())
            }
            Carrier::Field(path) => {
                let payload = body::parse(inbound)?;
                at(payload.value(), path)
                    .and_then(|value| value.as_str())
                    .map(str::to_string)
                    .ok_or_else(missing)
            }
        }
    }
}

impl Scheme for Token {
    fn verify(
        &self,
        inbound: &Inbound,
        secrets: &[Secret],
        _now: SystemTime,
    ) -> Result<Option<String>, VerifyError> {
        let presented = self.presented(inbound)?;
        let secrets = secrets.iter().map(|s| s.expose().as_bytes());
        if presented.is_empty() || !equals_any(secrets, presented.as_bytes()) {
            return Err(VerifyError::BadToken(self.what().into()));
        }
        Ok(None)
    }

    fn normalize(
        &self,
        source: &str,
        inbound: &Inbound,
    ) -> Result<Received<EventData>, VerifyError> {
        let mut payload = body::parse(inbound)?;
        if let Carrier::Field(path) = &self.carrier
            && let Some((last, parents)) = path.split_last()
        {
            let mut value = payload.into_value();
            if let Some(serde_json::Value::Object(object)) = at_mut(&mut value, parents) {
                object.remove(last);
            }
            payload = Payload::from_value(value);
        }
        self.naming.name(source, inbound, payload)
    }

    fn sign(&self, secret: &Secret, delivery: &Delivery<'_>) -> Result<Signed, SignError> {
        let mut signed = self.naming.sign(delivery.event_type);
        signed
            .headers
            .insert(0, ("Content-Type".into(), "application/json".into()));
        match &self.carrier {
            Carrier::Header {
                display, prefix, ..
            } => {
                signed
                    .headers
                    .push((display.clone(), format!("{prefix}{}", secret.expose())));
            }
            Carrier::Field(path) => {
                let body: Option<serde_json::Value> = serde_json::from_slice(delivery.body).ok();
                let holds = body
                    .as_ref()
                    .and_then(|body| at(body, path))
                    .and_then(|value| value.as_str())
                    .is_some_and(|token| {
                        equals_any([secret.expose().as_bytes()], token.as_bytes())
                    });
                if !holds {
                    return Err(SignError(format!(
                        "this source's token travels in the body: put the source's secret in the file's field `{}`",
                        path.join(".")
                    )));
                }
            }
        }
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

fn at_mut<'a>(
    value: &'a mut serde_json::Value,
    path: &[String],
) -> Option<&'a mut serde_json::Value> {
    path.iter().try_fold(value, |value, key| value.get_mut(key))
}
