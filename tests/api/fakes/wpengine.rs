//! WP Engine's `purge_cache` (seed 003): Basic auth, 202 Accepted, 400 with
//! `errors[]` for an unknown type, 401 "Bad Credentials", and 429 for a
//! second object-cache purge within 60 s of the last one for the install
//! (a shorter interval can be set, to test rate limits without the wait).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::basic;

pub const USER: &str = "api-user";
pub const PASSWORD: &str = "api-password";

struct PurgeCache {
    auth: String,
    object_interval: Duration,
    last_object_purge: Mutex<Option<Instant>>,
    rate_limited: Arc<AtomicUsize>,
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
            if last.is_some_and(|at| at.elapsed() < self.object_interval) {
                self.rate_limited.fetch_add(1, Ordering::SeqCst);
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
    rate_limited: Arc<AtomicUsize>,
}

impl WpEngine {
    pub async fn start() -> WpEngine {
        WpEngine::with_object_interval(Duration::from_secs(60)).await
    }

    /// An install that allows one object purge per `object_interval`.
    pub async fn with_object_interval(object_interval: Duration) -> WpEngine {
        let server = MockServer::start().await;
        let rate_limited = Arc::new(AtomicUsize::new(0));
        Mock::given(method("POST"))
            .and(path_regex(r"^/v1/installs/[^/]+/purge_cache$"))
            .respond_with(PurgeCache {
                auth: basic(USER, PASSWORD),
                object_interval,
                last_object_purge: Mutex::new(None),
                rate_limited: rate_limited.clone(),
            })
            .mount(&server)
            .await;
        WpEngine {
            server,
            rate_limited,
        }
    }

    /// How many calls were answered 429.
    pub fn rate_limited(&self) -> usize {
        self.rate_limited.load(Ordering::SeqCst)
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
