//! WP Engine's `purge_cache` (seed 003): Basic auth, 202 Accepted, 400 with
//! `errors[]` for an unknown type, 401 "Bad Credentials", and 429 for a
//! second object-cache purge within 60 s of the last one for the install.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::basic;

pub const USER: &str = "api-user";
pub const PASSWORD: &str = "api-password";

struct PurgeCache {
    auth: String,
    last_object_purge: Mutex<Option<Instant>>,
}

impl Respond for PurgeCache {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(self.auth.as_str());
        if !authorized {
            return ResponseTemplate::new(401).set_body_json(json!({"message": "Bad Credentials"}));
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let cache_type = body["type"].as_str().unwrap_or("");
        if !["object", "page", "cdn", "all"].contains(&cache_type) {
            return ResponseTemplate::new(400).set_body_json(json!({
                "message": "Invalid purge type",
                "errors": [{"resource": "Install", "field": "type", "type": "invalid_value",
                            "code": "invalid", "message": "type must be one of object, page, cdn, all"}]
            }));
        }
        if matches!(cache_type, "object" | "all") {
            let mut last = self.last_object_purge.lock().unwrap();
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(60)) {
                return ResponseTemplate::new(429).set_body_json(json!({
                    "message": "Object cache purges are rate-limited to one request every 60 seconds for each install"
                }));
            }
            *last = Some(Instant::now());
        }
        ResponseTemplate::new(202)
    }
}

pub struct WpEngine {
    pub server: MockServer,
}

impl WpEngine {
    pub async fn start() -> WpEngine {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/v1/installs/[^/]+/purge_cache$"))
            .respond_with(PurgeCache {
                auth: basic(USER, PASSWORD),
                last_object_purge: Mutex::new(None),
            })
            .mount(&server)
            .await;
        WpEngine { server }
    }

    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The target table for install `install`.
    pub fn target(&self, id: &str, install: &str, password: &str) -> String {
        format!(
            "[targets.{id}]\nprovider = \"wpengine\"\ninstall_id = \"{install}\"\nusername = \"{USER}\"\npassword = \"{password}\"\nbase_url = \"{}/v1\"\nwindow = \"50ms\"\n",
            self.server.uri()
        )
    }
}
