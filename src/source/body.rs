//! Parsing webhook bodies: JSON, or a form whose `payload` field holds JSON
//! (how GitHub sends `application/x-www-form-urlencoded` deliveries).

use super::{Inbound, VerifyError};
use crate::template::Payload;

/// Parses the body as JSON, or as a form when the content type says so.
/// A form with a `payload` field yields that field's JSON; other forms
/// yield an object of their fields. JSON is checked, not parsed: the
/// payload is read lazily.
pub fn parse(inbound: &Inbound) -> Result<Payload, VerifyError> {
    if inbound.body.is_empty() {
        return Err(VerifyError::BadBody("the body is empty".into()));
    }
    let is_form = inbound
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&inbound.body)
            .map_err(|e| VerifyError::BadBody(format!("the form body is not parseable: {e}")))?;
        if let Some((_, payload)) = fields.iter().find(|(k, _)| k == "payload") {
            return Payload::parse_str(payload).map_err(|e| {
                VerifyError::BadBody(format!("the form's payload field is not JSON: {e}"))
            });
        }
        let object = fields
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        return Ok(Payload::from_value(serde_json::Value::Object(object)));
    }
    Payload::parse(&inbound.body)
        .map_err(|e| VerifyError::BadBody(format!("the body is not valid JSON: {e}")))
}
