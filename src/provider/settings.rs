//! Values the providers' keys share, each checked the same way everywhere:
//! an http(s) base URL with a host ([`HttpUrl`]), with a default for the
//! providers that have a public API ([`base_url_or`]), and a non-empty
//! identifier ([`NonEmpty`]).

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::config::{Fields, Read};

/// The `base_url` key, `default` (a provider's public API) when absent.
pub fn base_url_or(fields: &mut Fields<'_>, default: &str) -> Read<HttpUrl> {
    match fields.optional("base_url")? {
        Some(url) => Ok(url),
        None => HttpUrl::parse(default).map_err(|e| fields.problem("base_url", e)),
    }
}

/// An absolute `http://` or `https://` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(url::Url);

impl HttpUrl {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                Ok(HttpUrl(url))
            }
            Ok(_) => Err(format!("expected an http(s) URL with a host, got {text:?}")),
            Err(error) => Err(format!("expected an http(s) URL, got {text:?} ({error})")),
        }
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The URL followed by `path` (`/`-joined, never doubled).
    pub fn join(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.0.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        HttpUrl::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A string that is not empty (ids, names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(pub String);

impl fmt::Display for NonEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            Err(serde::de::Error::custom("must not be empty"))
        } else {
            Ok(NonEmpty(text))
        }
    }
}
