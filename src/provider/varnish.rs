//! Varnish (and other caches with a purge VCL): `PURGE` per URL, sent to
//! `base_url` with the URL's path and its `Host`; `BAN` for prefixes, with
//! the path regex in a header (`X-Ban-Url`, and the host in `X-Ban-Host`);
//! surrogate keys through a header (`xkey` by default, for vmod-xkey);
//! `everything` bans every URL. A 404 answer to a `PURGE` means the URL was
//! not cached: nothing to purge, so it counts as done.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::http::exchange;
use super::registration::{Context, Registration};
use super::settings::HttpUrl;
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::{Capabilities, accept_any};
use crate::config::{Fields, Read};

const NAME: &str = "Varnish";

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "varnish",
        kinds: &[
            ActionKind::Everything,
            ActionKind::Urls,
            ActionKind::Prefixes,
            ActionKind::Tags,
        ],
        max_items: &[],
        check: accept_any,
        default_rate: None,
    },
    build,
};

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let base_url = fields.required("base_url");
    let tag_header = fields.value_or("tag_header", "xkey".to_string());
    let ban_header = fields.value_or("ban_header", "X-Ban-Url".to_string());
    for (key, name) in [("tag_header", &tag_header), ("ban_header", &ban_header)] {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            fields.problem(key, format!("{name:?} is not a valid header name"));
        }
    }
    // Varnish's own verbs, valid HTTP tokens.
    let purge = Method::from_bytes(b"PURGE").map_err(|e| fields.problem("base_url", e.to_string()));
    let ban = Method::from_bytes(b"BAN").map_err(|e| fields.problem("base_url", e.to_string()));
    Ok(Arc::new(Varnish {
        base_url: base_url?,
        tag_header,
        ban_header,
        purge: purge?,
        ban: ban?,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct Varnish {
    /// Where Varnish listens for purges (`http://127.0.0.1:6081`).
    base_url: HttpUrl,
    /// The header carrying surrogate keys.
    tag_header: String,
    /// The header carrying a ban's path regex.
    ban_header: String,
    purge: Method,
    ban: Method,
    client: reqwest::Client,
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
    async fn send(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(), ProviderError> {
        let mut request = self
            .client
            .request(method.clone(), self.base_url.join(path));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let answer = exchange(NAME, request).await?;
        let not_cached = *method == self.purge && answer.status == StatusCode::NOT_FOUND;
        if answer.status.is_success() || not_cached {
            Ok(())
        } else {
            Err(answer.failure(NAME))
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
        let ban = self.ban_header.as_str();
        match action {
            Action::Urls { urls } => {
                for url in urls {
                    let (host, path) = host_and_path(url);
                    let headers: Vec<(&str, String)> =
                        host.map(|h| ("Host", h)).into_iter().collect();
                    self.send(&self.purge, &path, &headers).await?;
                }
                Ok(())
            }
            Action::Prefixes { prefixes } => {
                for prefix in prefixes {
                    let (host, path) = host_and_path(prefix);
                    let mut headers = vec![(ban, regex_prefix(&path))];
                    headers.extend(host.map(|host| ("X-Ban-Host", host)));
                    self.send(&self.ban, "/", &headers).await?;
                }
                Ok(())
            }
            Action::Tags { tags } => {
                let headers = [(self.tag_header.as_str(), tags.join(" "))];
                self.send(&self.purge, "/", &headers).await
            }
            Action::Everything { .. } => self.send(&self.ban, "/", &[(ban, ".".to_string())]).await,
            other => Err(ProviderError::cannot(NAME, other)),
        }
    }

    fn describe(&self) -> String {
        self.base_url.to_string()
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
