//! The log's last line of defence against what senders write: every event
//! passes through [`OneLine`] on its way to stderr, which escapes each
//! control character but the event's final newline (C0 and C1 controls,
//! DEL, the Unicode line and paragraph separators, and the bidirectional
//! overrides) as `\n`, `\r`, `\t` or `\uXXXX` — escapes valid inside a JSON
//! string too — and cuts an event longer than [`MAX_LINE`] bytes. So an
//! untrusted value (a source name, a header, a provider's message) can
//! neither forge a line nor reach a terminal raw, whatever field it is in.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// The longest event written; longer ones are cut (pretty) or summarized
/// (JSON) to this length.
pub const MAX_LINE: usize = 64 * 1024;

/// How much of a cut JSON event its summary quotes.
const JSON_QUOTED: usize = 1024;

/// A writer maker whose writers keep each event to one escaped line.
#[derive(Debug, Clone, Copy)]
pub struct OneLine<M> {
    inner: M,
    json: bool,
}

impl<M> OneLine<M> {
    /// Wraps `inner`; `json` when the events are JSON objects.
    pub fn new(inner: M, json: bool) -> Self {
        OneLine { inner, json }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLine<M> {
    type Writer = OneLineWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter {
            inner: self.inner.make_writer(),
            json: self.json,
        }
    }
}

/// Escapes and cuts what it is given (one formatted event per write).
#[derive(Debug)]
pub struct OneLineWriter<W> {
    inner: W,
    json: bool,
}

impl<W: Write> Write for OneLineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(sanitize(buf, self.json).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether `c` must not reach the log raw.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Appends `text` to `out` with every control character escaped.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if must_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// One formatted event as it may be written: one line, escaped, cut.
pub fn sanitize(event: &[u8], json: bool) -> String {
    let text = String::from_utf8_lossy(event);
    let (body, newline) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (&*text, ""),
    };
    let mut line = String::with_capacity(body.len() + 1);
    escape_into(&mut line, body);
    if line.len() > MAX_LINE {
        line = if json {
            json_summary(&line)
        } else {
            cut(&line, MAX_LINE)
        };
    }
    line.push_str(newline);
    line
}

/// `line`'s first `max` bytes (at a character boundary) and how much was cut.
fn cut(line: &str, max: usize) -> String {
    let end = floor_boundary(line, max);
    format!("{} … [{} bytes cut]", &line[..end], line.len() - end)
}

/// The largest character boundary of `text` at or below `index`.
pub fn floor_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// A JSON event too long to write, replaced by a valid object that says
/// so and quotes its start.
fn json_summary(line: &str) -> String {
    let start = &line[..floor_boundary(line, JSON_QUOTED)];
    serde_json::json!({
        "timestamp": jiff::Timestamp::now().to_string(),
        "level": "WARN",
        "fields": {
            "message": "log event too long; cut",
            "bytes": line.len(),
            "start": start,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_but_the_final_newline() {
        let forged = "WARN webhook refused source=\n2026-11-23T20:31:00Z ERROR forged\r\x1b[31mred\x07\u{85}\u{2028}\u{202e}\n";
        let line = sanitize(forged.as_bytes(), false);
        assert_eq!(
            line,
            "WARN webhook refused source=\\n2026-11-23T20:31:00Z ERROR forged\\r\\u001b[31mred\\u0007\\u0085\\u2028\\u202e\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(
            sanitize(b"no newline\tat end", false),
            "no newline\\tat end"
        );
        assert_eq!(sanitize(b"caf\xc3\xa9 \xff", false), "caf\u{e9} \u{fffd}");
    }

    #[test]
    fn json_lines_stay_valid_json() {
        let event = serde_json::json!({"fields": {"source": "a\u{85}b\u{2028}c\u{1b}"}});
        let line = sanitize(format!("{event}\n").as_bytes(), true);
        let parsed: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed, event);
    }

    #[test]
    fn long_events_are_cut() {
        let long = format!("INFO {}\n", "é".repeat(MAX_LINE));
        let line = sanitize(long.as_bytes(), false);
        assert!(line.len() < MAX_LINE + 64, "{}", line.len());
        assert!(
            line.ends_with(" bytes cut]\n"),
            "{}",
            &line[line.len() - 40..]
        );

        let event = serde_json::json!({"fields": {"message": "x".repeat(2 * MAX_LINE)}});
        let line = sanitize(format!("{event}\n").as_bytes(), true);
        let summary: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(summary["fields"]["message"], "log event too long; cut");
        assert!(line.len() < 2 * JSON_QUOTED, "{}", line.len());
    }

    #[test]
    fn the_writer_writes_each_event_sanitized() {
        let mut out = Vec::new();
        let mut writer = OneLineWriter {
            inner: &mut out,
            json: false,
        };
        writer.write_all(b"a\nb\n").unwrap();
        assert_eq!(out, b"a\\nb\n");
    }
}
