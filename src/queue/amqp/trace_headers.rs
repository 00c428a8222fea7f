//! The trace context in a job message's AMQP headers (W3C `traceparent`
//! and `tracestate`, string values), written when a job is published and
//! read when it is consumed — with the `otel` feature; without it nothing
//! is written and nothing read (see `telemetry::trace`).

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};

use crate::telemetry::trace::{self, Parent};

/// The current span's trace headers, if there are any.
pub(super) fn current() -> Option<FieldTable> {
    let headers = trace::current_headers();
    if headers.is_empty() {
        return None;
    }
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert(name.into(), AMQPValue::LongString(value.into()));
    }
    Some(table)
}

/// The trace a message came with, if it came with one.
pub(super) fn parent(properties: &BasicProperties) -> Parent {
    let Some(table) = properties.headers() else {
        return Parent::default();
    };
    trace::parent_from(strings(table))
}

/// The headers whose values are strings.
fn strings(table: &FieldTable) -> impl Iterator<Item = (&str, &str)> {
    table.inner().iter().filter_map(|(name, value)| {
        let text = match value {
            AMQPValue::LongString(text) => std::str::from_utf8(text.as_bytes()).ok()?,
            AMQPValue::ShortString(text) => text.as_str(),
            _ => return None,
        };
        Some((name.as_str(), text))
    })
}
