//! A site behind a CDN with Cloudflare's purge API, on one local server.
//!
//! Pages (any path but the API's) go through a cache that answers as
//! Cloudflare does: `CF-Cache-Status: HIT` with `Age` (seconds since it
//! was cached) for a cached page; `MISS` otherwise, fetched from the
//! origin — and cached, for a GET (a HEAD that misses is passed to the
//! origin and not cached, as nginx does with `proxy_cache_convert_head
//! off`, so that a warming GET after a check still reaches the origin).
//!
//! `POST /client/v4/zones/ZONE/purge_cache` (bearer `cf-token`) removes
//! what it names — `files`, `prefixes` (host and path, no scheme) or
//! `purge_everything` — answering Cloudflare's success body, or its 400
//! for more than 100 items. A page can be held through some purges (an
//! edge the purge did not reach), and HEAD can be refused (405).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const API: &str = "/client/v4/zones/ZONE/purge_cache";
const TOKEN: &str = "cf-token";

/// A request the CDN (or its origin) saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub user_agent: String,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    /// Cached pages by path, with when they were cached.
    cached: HashMap<String, SystemTime>,
    /// Pages kept through this many more purges.
    held: HashMap<String, u32>,
    refuse_head: bool,
    /// Page requests the CDN answered.
    edge: Vec<Seen>,
    /// Page requests that reached the origin.
    origin: Vec<Seen>,
    /// Purge bodies the API accepted.
    purges: Vec<Value>,
}

pub struct Cdn {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if request.url.path() == API {
            state.purge(request)
        } else {
            state.page(request)
        }
    }
}

impl State {
    fn page(&mut self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_string();
        let seen = Seen {
            method: request.method.to_string(),
            path: path.clone(),
            user_agent: request
                .headers
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            at: Instant::now(),
        };
        self.edge.push(seen.clone());
        let head = request.method.as_str() == "HEAD";
        if head && self.refuse_head {
            return ResponseTemplate::new(405).insert_header("Allow", "GET");
        }
        let page = ResponseTemplate::new(200)
            .insert_header("Content-Type", "text/html")
            .set_body_string(format!("<html><body>{path}</body></html>"));
        if let Some(cached_at) = self.cached.get(&path) {
            let age = cached_at.elapsed().unwrap_or_default().as_secs();
            return page
                .insert_header("CF-Cache-Status", "HIT")
                .insert_header("Age", age.to_string().as_str());
        }
        self.origin.push(seen);
        if !head {
            self.cached.insert(path, SystemTime::now());
        }
        page.insert_header("CF-Cache-Status", "MISS")
    }

    fn purge(&mut self, request: &Request) -> ResponseTemplate {
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if bearer != Some(&format!("Bearer {TOKEN}")) {
            return ResponseTemplate::new(403).set_body_json(json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]}));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let too_many = ["files", "prefixes", "tags", "hosts"]
            .iter()
            .any(|key| body[key].as_array().is_some_and(|a| a.len() > 100));
        if too_many {
            return ResponseTemplate::new(400).set_body_json(json!({"success": false, "errors": [{"code": 1015, "message": "Too many items in purge request"}]}));
        }
        let files: Vec<String> = strings(&body["files"])
            .iter()
            .filter_map(|url| url::Url::parse(url).ok().map(|u| u.path().to_string()))
            .collect();
        // Prefixes come without scheme: host[:port]/path.
        let prefixes: Vec<String> = strings(&body["prefixes"])
            .iter()
            .filter_map(|p| p.split_once('/').map(|(_, path)| format!("/{path}")))
            .collect();
        let everything = body["purge_everything"] == json!(true);
        let paths: Vec<String> = self.cached.keys().cloned().collect();
        for path in paths {
            let named = everything
                || files.contains(&path)
                || prefixes
                    .iter()
                    .any(|prefix| path.starts_with(prefix.as_str()));
            if named && !self.hold(&path) {
                self.cached.remove(&path);
            }
        }
        self.purges.push(body);
        ResponseTemplate::new(200).set_body_json(json!({"success": true, "errors": [], "messages": [], "result": {"id": "9a7806061c88ada191ed06f989cc3dac"}}))
    }

    /// Whether a purge of `path` misses it (an edge holding it still).
    fn hold(&mut self, path: &str) -> bool {
        match self.held.get_mut(path) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Cdn {
    pub async fn start() -> Cdn {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Cdn { server, state }
    }

    /// The public URL of `path` (`/blog/a`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.uri())
    }

    /// A `[targets.<id>]` table for this zone, and `extra` keys.
    pub fn target(&self, id: &str, extra: &str) -> String {
        format!(
            "\n[targets.{id}]\nprovider = \"cloudflare\"\nzone_id = \"ZONE\"\napi_token = \"{TOKEN}\"\nbase_url = \"{}/client/v4\"\n{extra}\n",
            self.server.uri()
        )
    }

    /// Caches `path` as if it had been cached `age` ago.
    pub fn cached_since(&self, path: &str, age: Duration) {
        let at = SystemTime::now() - age;
        self.state.lock().unwrap().cached.insert(path.into(), at);
    }

    /// Keeps `path` cached through its next `purges` purges.
    pub fn hold_through(&self, path: &str, purges: u32) {
        self.state.lock().unwrap().held.insert(path.into(), purges);
    }

    /// Answers HEAD with 405 from now on.
    pub fn refuse_head(&self) {
        self.state.lock().unwrap().refuse_head = true;
    }

    /// The purge bodies accepted so far.
    pub fn purges(&self) -> Vec<Value> {
        self.state.lock().unwrap().purges.clone()
    }

    /// The page requests the CDN answered so far.
    pub fn edge_requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().edge.clone()
    }

    /// The page requests that reached the origin so far.
    pub fn origin_requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().origin.clone()
    }
}
