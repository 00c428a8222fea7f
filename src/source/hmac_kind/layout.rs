//! The two texts an `hmac` source describes: how the signature header is
//! laid out ([`Layout`]: one MAC after a `prefix`, or comma-separated
//! `key=value` parts after a `format` such as `"t={t},v1={signature}"`),
//! and what is signed ([`Piece`]s of a `signed` template such as
//! `"{t}.{body}"`). Both are read when the configuration loads.

/// How the signature header is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The whole value, after `prefix`, is one MAC (`sha256=<hex>`).
    Plain {
        /// The text before the MAC (`sha256=`), possibly empty.
        prefix: String,
    },
    /// Comma-separated `key=value` parts (`t=<ts>,v1=<mac>`).
    Parts {
        /// The format, written back by `sign` (`"t={t},v1={signature}"`).
        format: String,
        /// The key of the MAC part (`v1`); it may repeat.
        signature: String,
        /// The key of the timestamp part (`t`), if any.
        timestamp: Option<String>,
    },
}

/// The MACs and the timestamp found in a signature header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Every candidate MAC, still encoded.
    pub signatures: Vec<&'a str>,
    /// The timestamp part, exactly as sent.
    pub timestamp: Option<&'a str>,
}

const FORMAT_HELP: &str = "expected comma-separated parts `key={signature}` (once) and \
    `key={t}` (at most once), e.g. \"t={t},v1={signature}\" or \"sha256={signature}, t={t}\"";

impl Layout {
    /// The layout from `format` (parts) or `prefix` (plain).
    pub fn parts(format: &str) -> Result<Layout, String> {
        let mut signature = None;
        let mut timestamp = None;
        for part in format.split(',').map(str::trim) {
            let slot = match part.split_once('=') {
                Some((key, "{signature}")) if !key.is_empty() => &mut signature,
                Some((key, "{t}")) if !key.is_empty() => &mut timestamp,
                _ => return Err(format!("{FORMAT_HELP}; {part:?} is neither")),
            };
            if slot.is_some() {
                return Err(format!("{FORMAT_HELP}; {part:?} repeats a placeholder"));
            }
            *slot = part.split_once('=').map(|(key, _)| key.to_string());
        }
        let signature =
            signature.ok_or_else(|| format!("{FORMAT_HELP}; {{signature}} is missing"))?;
        Ok(Layout::Parts {
            format: format.to_string(),
            signature,
            timestamp,
        })
    }

    /// Whether the header carries a timestamp.
    pub fn has_timestamp(&self) -> bool {
        matches!(
            self,
            Layout::Parts {
                timestamp: Some(_),
                ..
            }
        )
    }

    /// The MACs and timestamp of a header value; `None` when it does not
    /// have this layout.
    pub fn parse<'a>(&self, value: &'a str) -> Option<Parsed<'a>> {
        match self {
            Layout::Plain { prefix } => Some(Parsed {
                signatures: vec![value.trim().strip_prefix(prefix.as_str())?.trim()],
                timestamp: None,
            }),
            Layout::Parts {
                signature,
                timestamp,
                ..
            } => {
                let mut parsed = Parsed::default();
                for (key, part) in value.split(',').filter_map(|p| p.trim().split_once('=')) {
                    if key.trim() == signature {
                        parsed.signatures.push(part.trim());
                    } else if timestamp.as_deref() == Some(key.trim()) && parsed.timestamp.is_none()
                    {
                        parsed.timestamp = Some(part.trim());
                    }
                }
                (!parsed.signatures.is_empty()).then_some(parsed)
            }
        }
    }

    /// The header value carrying `mac` (encoded) and `timestamp`.
    pub fn write(&self, mac: &str, timestamp: &str) -> String {
        match self {
            Layout::Plain { prefix } => format!("{prefix}{mac}"),
            Layout::Parts { format, .. } => {
                format.replace("{signature}", mac).replace("{t}", timestamp)
            }
        }
    }
}

/// A piece of the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The raw body.
    Body,
    /// The timestamp, exactly as sent.
    Timestamp,
    /// A header's value (lower-case name).
    Header(String),
}

/// The pieces of a `signed` template: literal text, `{body}`, `{t}` and
/// `{header:NAME}`. `{body}` must appear: a MAC that does not cover the
/// body authenticates nothing that matters.
pub fn signed_pieces(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .map(|at| open + at)
            .ok_or_else(|| format!("unclosed {{ in {template:?}"))?;
        pieces.push(match &rest[open + 1..close] {
            "body" => Piece::Body,
            "t" => Piece::Timestamp,
            other => match other.strip_prefix("header:") {
                Some(name) if !name.trim().is_empty() => {
                    Piece::Header(name.trim().to_ascii_lowercase())
                }
                _ => {
                    return Err(format!(
                        "unknown placeholder {{{other}}}; the placeholders are {{body}}, {{t}} and {{header:NAME}}"
                    ));
                }
            },
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    if !pieces.contains(&Piece::Body) {
        return Err(format!(
            "{template:?} does not sign the body; include {{body}}"
        ));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_whatever_their_order_and_spacing() {
        let ghost = Layout::parts("sha256={signature}, t={t}").unwrap();
        let parsed = ghost.parse("sha256=abc, t=123").unwrap();
        assert_eq!(parsed.signatures, ["abc"]);
        assert_eq!(parsed.timestamp, Some("123"));
        assert_eq!(ghost.write("abc", "123"), "sha256=abc, t=123");
        let sanity = Layout::parts("t={t},v1={signature}").unwrap();
        let parsed = sanity.parse("t=1, v1=x,v1=y").unwrap();
        assert_eq!(
            (parsed.signatures, parsed.timestamp),
            (vec!["x", "y"], Some("1"))
        );
        assert!(sanity.parse("t=1").is_none());
        assert!(Layout::parts("t={t}").is_err());
        assert!(Layout::parts("v1={signature},v2={signature}").is_err());
        assert!(Layout::parts("v1={mac}").is_err());
    }

    #[test]
    fn a_plain_header_needs_its_prefix() {
        let github = Layout::Plain {
            prefix: "sha256=".into(),
        };
        assert_eq!(github.parse(" sha256=ab ").unwrap().signatures, ["ab"]);
        assert!(github.parse("sha1=ab").is_none());
    }

    #[test]
    fn signed_templates_name_their_pieces() {
        assert_eq!(
            signed_pieces("{t}.{body}").unwrap(),
            [Piece::Timestamp, Piece::Text(".".into()), Piece::Body]
        );
        assert_eq!(
            signed_pieces("{header:Webhook-Id}.{body}").unwrap()[0],
            Piece::Header("webhook-id".into())
        );
        assert!(signed_pieces("{t}").unwrap_err().contains("{body}"));
        assert!(signed_pieces("{body}{ts}").unwrap_err().contains("{ts}"));
        assert!(signed_pieces("{body").is_err());
    }
}
