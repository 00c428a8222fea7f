//! Varnish (and other caches with a purge VCL): `PURGE` per URL, sent to
//! `base_url` with the URL's path and its `Host`; `BAN` for prefixes, with
//! the path regex in a header (`X-Ban-Url`, and the host in `X-Ban-Host`);
//! surrogate keys through a header (`xkey` by default, for vmod-xkey);
//! `everything` bans every URL. A 404 answer to a `PURGE` means the URL was
//! not cached: nothing to purge, so it counts as done.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use toml::Table;

use super::http::{classify_failure, error_detail, read, transport_error};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, typed_section};
use crate::job::{Action, ActionKind};

const NAME: &str = "Varnish";

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[
        ActionKind::Everything,
        ActionKind::Urls,
        ActionKind::Prefixes,
        ActionKind::Tags,
    ],
    max_items: &[],
    check: super::accept_any,
    default_rate: None,
};

fn default_tag_header() -> String {
    "xkey".into()
}

fn default_ban_header() -> String {
    "X-Ban-Url".into()
}

/// `[targets.<id>]` keys of a Varnish cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where Varnish listens for purges (`http://127.0.0.1:6081`).
    pub base_url: url::Url,
    /// The header carrying surrogate keys.
    #[serde(default = "default_tag_header")]
    pub tag_header: String,
    /// The header carrying a ban's path regex.
    #[serde(default = "default_ban_header")]
    pub ban_header: String,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        super::require_http(&settings.base_url, path, errors)?;
        Some(settings)
    }
}

/// The adapter.
pub struct Varnish {
    settings: Settings,
    client: reqwest::Client,
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::POST)
}

/// Escapes a path for use as a literal at the start of a regex.
fn regex_prefix(path: &str) -> String {
    let mut out = String::from("^");
    for c in path.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Varnish {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }

    async fn send(
        &self,
        verb: &str,
        path: &str,
        headers: &[(&str, String)],
        not_found_is_done: bool,
    ) -> Result<(), ProviderError> {
        let url = format!(
            "{}{path}",
            self.settings.base_url.as_str().trim_end_matches('/')
        );
        let mut request = self.client.request(method(verb), url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| transport_error(NAME, e))?;
        let (status, response_headers, text) = read(response).await;
        if status.is_success() || (not_found_is_done && status == StatusCode::NOT_FOUND) {
            Ok(())
        } else {
            Err(classify_failure(
                NAME,
                status,
                &response_headers,
                &error_detail(&text),
            ))
        }
    }
}

fn host_and_path(text: &str) -> (Option<String>, String) {
    match url::Url::parse(text) {
        Ok(url) if url.has_host() => {
            let mut path = url.path().to_string();
            if let Some(query) = url.query() {
                path.push('?');
                path.push_str(query);
            }
            (url.host_str().map(str::to_string), path)
        }
        _ => match text.split_once('/') {
            Some((host, rest)) if !host.is_empty() => (Some(host.to_string()), format!("/{rest}")),
            _ => (None, text.to_string()),
        },
    }
}

#[async_trait]
impl Provider for Varnish {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let ban = self.settings.ban_header.as_str();
        match action {
            Action::Urls { urls } => {
                for url in urls {
                    let (host, path) = host_and_path(url);
                    let headers: Vec<(&str, String)> =
                        host.map(|h| ("Host", h)).into_iter().collect();
                    self.send("PURGE", &path, &headers, true).await?;
                }
                Ok(())
            }
            Action::Prefixes { prefixes } => {
                for prefix in prefixes {
                    let (host, path) = host_and_path(prefix);
                    let mut headers = vec![(ban, regex_prefix(&path))];
                    if let Some(host) = host {
                        headers.push(("X-Ban-Host", host));
                    }
                    self.send("BAN", "/", &headers, false).await?;
                }
                Ok(())
            }
            Action::Tags { tags } => {
                let headers = [(self.settings.tag_header.as_str(), tags.join(" "))];
                self.send("PURGE", "/", &headers, true).await
            }
            Action::Everything { .. } => {
                self.send("BAN", "/", &[(ban, ".".to_string())], false)
                    .await
            }
            other => Err(ProviderError::Permanent {
                message: format!("{NAME} cannot purge {}", other.kind()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_become_anchored_literal_regexes() {
        assert_eq!(regex_prefix("/blog/2026.11/"), "^/blog/2026\\.11/");
        assert_eq!(
            host_and_path("https://www.example.com/a/b?x=1"),
            (Some("www.example.com".into()), "/a/b?x=1".into())
        );
        assert_eq!(
            host_and_path("www.example.com/a/"),
            (Some("www.example.com".into()), "/a/".into())
        );
        assert_eq!(host_and_path("/a/"), (None, "/a/".into()));
    }
}
