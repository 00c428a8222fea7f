//! The generic `http` provider, for an API purgehook does not know: the
//! request's `url`, `headers` and `body` are templates (compiled when the
//! configuration loads) over `action` (the job's action as JSON: `kind`,
//! `urls`, `tags`…) and `target`; a header whose value is `env:NAME` or
//! `file:PATH` is a secret. 2xx is success; failures are classified like
//! every other provider's.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use minijinja::value::Value;
use reqwest::Method;
use reqwest::header::HeaderName;

use super::http::exchange;
use super::registration::{Context, Registration};
use super::{Provider, ProviderError};
use crate::action::Action;
use crate::capability::Capabilities;
use crate::config::{Fields, Read};
use crate::job::TargetId;
use crate::secret::Secret;
use crate::template::{Compiled, compile_template};

const NAME: &str = "http";

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities::any("http"),
    build,
};

enum HeaderValue {
    Template(Compiled),
    Secret(Secret),
}

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let method = match fields.optional::<String>("method") {
        Ok(None) => Ok(Method::POST),
        Ok(Some(name)) => Method::from_bytes(name.to_ascii_uppercase().as_bytes())
            .map_err(|_| fields.problem("method", format!("{name:?} is not an HTTP method"))),
        Err(invalid) => Err(invalid),
    };
    let url_source: Read<String> = fields.required("url");
    let url = url_source
        .clone()
        .and_then(|url| template(fields, "url", &url));
    let body = match fields.optional::<String>("body") {
        Ok(Some(body)) => template(fields, "body", &body).map(Some),
        Ok(None) => Ok(None),
        Err(invalid) => Err(invalid),
    };
    let headers = headers(fields);
    Ok(Arc::new(HttpApi {
        target: context.target.clone(),
        method: method?,
        url_source: url_source?,
        url: url?,
        headers: headers?,
        body: body?,
        client: context.client.clone(),
    }))
}

fn template(fields: &mut Fields<'_>, key: &str, source: &str) -> Read<Compiled> {
    compile_template(source).map_err(|e| fields.problem(key, e.to_string()))
}

fn headers(fields: &mut Fields<'_>) -> Read<Vec<(HeaderName, HeaderValue)>> {
    let given: BTreeMap<String, String> = fields.value_or("headers", BTreeMap::new());
    let mut headers = Vec::new();
    let mut invalid = Ok(());
    for (name, value) in given {
        let key = format!("headers.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            invalid = Err(fields.problem(&key, "not a valid header name"));
            continue;
        };
        let parsed = if Secret::is_reference(&value) {
            Secret::resolve(&value)
                .map(HeaderValue::Secret)
                .map_err(|e| e.to_string())
        } else {
            compile_template(&value)
                .map(HeaderValue::Template)
                .map_err(|e| e.to_string())
        };
        match parsed {
            Ok(parsed) => headers.push((header, parsed)),
            Err(message) => invalid = Err(fields.problem(&key, message)),
        }
    }
    invalid.map(|()| headers)
}

/// The adapter.
struct HttpApi {
    target: TargetId,
    method: Method,
    url_source: String,
    url: Compiled,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Compiled>,
    client: reqwest::Client,
}

fn render(template: &Compiled, ctx: &Value, what: &str) -> Result<String, ProviderError> {
    template
        .eval(ctx.clone())
        .map(|v| v.to_string())
        .map_err(|e| ProviderError::Permanent {
            message: format!(
                "{NAME}: the {what} template failed: {}",
                crate::template::TemplateError::from(e)
            ),
        })
}

impl HttpApi {
    fn request(&self, ctx: &Value) -> Result<reqwest::RequestBuilder, ProviderError> {
        let url = render(&self.url, ctx, "url")?;
        let url = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ProviderError::Permanent {
                message: format!("{NAME}: the url template made {url:?}, not an http(s) URL"),
            })?;
        let mut request = self.client.request(self.method.clone(), url);
        let mut has_content_type = false;
        for (name, value) in &self.headers {
            has_content_type |= *name == reqwest::header::CONTENT_TYPE;
            request = match value {
                HeaderValue::Secret(secret) => request.header(name, secret.expose()),
                HeaderValue::Template(template) => {
                    request.header(name, render(template, ctx, "header")?)
                }
            };
        }
        if let Some(body) = &self.body {
            if !has_content_type {
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
            }
            request = request.body(render(body, ctx, "body")?);
        }
        Ok(request)
    }
}

#[async_trait]
impl Provider for HttpApi {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let ctx = minijinja::context! {
            action => Value::from_serialize(action),
            target => self.target.as_str(),
        };
        let request = self.request(&ctx)?;
        exchange(NAME, request).await?.success(NAME).map(drop)
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.url_source)
    }
}
