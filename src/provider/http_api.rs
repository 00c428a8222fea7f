//! The generic `http` provider, for an API purgehook does not know: the
//! request's `url`, `headers` and `body` are templates (compiled when the
//! configuration loads) over `action` (the job's action as JSON: `kind`,
//! `urls`, `tags`…) and `target`; a header whose value is `env:NAME` or
//! `file:PATH` is a secret. 2xx is success; failures are classified like
//! every other provider's.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use minijinja::value::Value;
use reqwest::Method;
use serde::Deserialize;
use toml::Table;

use super::http::{classify_failure, error_detail, read, transport_error};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section};
use crate::job::{Action, ActionKind};
use crate::rules::expressions::{Compiled, compile_template, describe, environment};

const NAME: &str = "http";

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[
        ActionKind::Everything,
        ActionKind::Urls,
        ActionKind::Prefixes,
        ActionKind::Tags,
        ActionKind::PostIds,
        ActionKind::Scopes,
        ActionKind::Resource,
        ActionKind::Command,
    ],
    max_items: &[],
    check: super::accept_any,
    default_rate: None,
};

fn default_method() -> String {
    "POST".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Clone)]
enum HeaderValue {
    Template(Arc<Compiled>),
    Secret(Secret),
}

/// The compiled request of an `http` target.
#[derive(Clone)]
pub struct Settings {
    method: Method,
    url_source: String,
    url: Arc<Compiled>,
    headers: Vec<(String, HeaderValue)>,
    body: Option<Arc<Compiled>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("http::Settings")
            .field("method", &self.method)
            .field("url", &self.url_source)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let raw: Raw = typed_section(table, path, errors)?;
        let env = environment();
        let mut fail = |key: &str, message: String| {
            errors.push(ConfigError::new(format!("{path}.{key}"), message));
        };
        let method = Method::from_bytes(raw.method.to_ascii_uppercase().as_bytes()).ok();
        if method.is_none() {
            fail("method", format!("{:?} is not an HTTP method", raw.method));
        }
        let url = compile_template(env, &raw.url)
            .map_err(|e| fail("url", e))
            .ok();
        let body = match &raw.body {
            Some(body) => compile_template(env, body)
                .map_err(|e| fail("body", e))
                .ok()
                .map(Some),
            None => Some(None),
        };
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                fail(&format!("headers.{name}"), "not a valid header name".into());
                continue;
            }
            let parsed = if value.starts_with("env:") || value.starts_with("file:") {
                Secret::resolve(&value).map(HeaderValue::Secret)
            } else {
                compile_template(env, &value).map(|t| HeaderValue::Template(Arc::new(t)))
            };
            match parsed {
                Ok(parsed) => headers.push((name, parsed)),
                Err(e) => fail(&format!("headers.{name}"), e),
            }
        }
        Some(Settings {
            method: method?,
            url_source: raw.url,
            url: Arc::new(url?),
            headers,
            body: body?.map(Arc::new),
        })
    }

    /// The URL template, for `check`.
    pub fn url_template(&self) -> &str {
        &self.url_source
    }
}

/// The adapter.
pub struct HttpApi {
    target: String,
    settings: Settings,
    client: reqwest::Client,
}

impl HttpApi {
    pub(super) fn new(target: &str, settings: Settings, client: reqwest::Client) -> Self {
        Self {
            target: target.to_string(),
            settings,
            client,
        }
    }
}

fn render(template: &Compiled, ctx: &Value, what: &str) -> Result<String, ProviderError> {
    template
        .eval(ctx.clone())
        .map(|v| v.to_string())
        .map_err(|e| ProviderError::Permanent {
            message: format!("{NAME}: the {what} template failed: {}", describe(&e)),
        })
}

#[async_trait]
impl Provider for HttpApi {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let ctx = minijinja::context! {
            action => Value::from_serialize(action),
            target => self.target.clone(),
        };
        let url = render(&self.settings.url, &ctx, "url")?;
        let url = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ProviderError::Permanent {
                message: format!("{NAME}: the url template made {url:?}, not an http(s) URL"),
            })?;
        let mut request = self.client.request(self.settings.method.clone(), url);
        let mut has_content_type = false;
        for (name, value) in &self.settings.headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            request = match value {
                HeaderValue::Secret(secret) => request.header(name, secret.expose()),
                HeaderValue::Template(template) => {
                    request.header(name, render(template, &ctx, "header")?)
                }
            };
        }
        if let Some(body) = &self.settings.body {
            if !has_content_type {
                request = request.header("Content-Type", "application/json");
            }
            request = request.body(render(body, &ctx, "body")?);
        }
        let response = request.send().await.map_err(|e| transport_error(NAME, e))?;
        let (status, headers, text) = read(response).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(classify_failure(
                NAME,
                status,
                &headers,
                &error_detail(&text),
            ))
        }
    }
}
