//! A Brilliant Directories site (seed 000): `POST
//! /api/v2/website_settings/refreshCache` with `X-Api-Key`; form fields
//! `scope`, `full`, `verbose`; 401 without a valid key, 405 for other
//! methods, 400 `status: error` naming an invalid scope. A site can be
//! started with areas that fail: they are reported `status: error` with
//! the error in `details`, and left out of `areas_refreshed`.

use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const API_KEY: &str = "bd-key-123";
const AREAS: [&str; 6] = [
    "data_widgets",
    "settings",
    "web_pages",
    "css",
    "menus",
    "sidebars",
];

struct RefreshCache {
    /// Areas that fail, with their error.
    failing: Vec<(&'static str, &'static str)>,
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

impl Respond for RefreshCache {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() != "POST" {
            return ResponseTemplate::new(405)
                .set_body_json(json!({"status": "error", "message": "Method not allowed"}));
        }
        let key = request
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok());
        if key != Some(API_KEY) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"status": "error", "message": "Invalid API key"}));
        }
        let fields = form(request);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (areas, scope): (Vec<String>, String) = match field("scope") {
            Some(scope) => {
                let areas: Vec<String> = scope.split(',').map(str::to_string).collect();
                if let Some(bad) = areas.iter().find(|a| !AREAS.contains(&a.as_str())) {
                    return ResponseTemplate::new(400).set_body_json(json!({
                        "status": "error",
                        "message": format!("Invalid scope value '{bad}'. Valid options: {}", AREAS.join(", "))
                    }));
                }
                (areas, scope)
            }
            None => {
                let mut areas: Vec<String> = AREAS.iter().map(|a| a.to_string()).collect();
                if field("full").as_deref() == Some("true") {
                    areas.extend(["db_optimization".into(), "file_permissions".into()]);
                }
                (areas, "full".into())
            }
        };
        let failed = |area: &str| self.failing.iter().find(|(a, _)| *a == area);
        let refreshed: Vec<&String> = areas.iter().filter(|a| failed(a).is_none()).collect();
        let mut body = json!({
            "status": "success",
            "message": "Cache refreshed successfully",
            "areas_refreshed": refreshed,
            "scope": scope,
        });
        if field("verbose").as_deref() == Some("true") {
            body["details"] = areas
                .iter()
                .map(|a| match failed(a) {
                    Some((_, error)) => (a.clone(), json!({"status": "error", "error": error})),
                    None => (a.clone(), json!({"status": "success"})),
                })
                .collect();
            body["total_time_ms"] = json!(42);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

pub async fn start() -> MockServer {
    start_failing(&[]).await
}

/// A site whose `failing` areas fail on every refresh, each with its error.
pub async fn start_failing(failing: &[(&'static str, &'static str)]) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/website_settings/refreshCache"))
        .respond_with(RefreshCache {
            failing: failing.to_vec(),
        })
        .mount(&server)
        .await;
    server
}
