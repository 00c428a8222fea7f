//! Freshness: how long after a webhook's 202 its provider call starts, on the
//! embedded default with nothing rate-limited. Signed GitHub-style events
//! arrive at random gaps (so some merge and some don't), each naming its own
//! URL; a local provider records when each URL's purge call arrives.
//!
//! `cargo bench --bench freshness [-- EVENTS WINDOW_MS]` prints p50/p99/max
//! of event→call latency and how far any call overshot its window.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use purgehook::app::{Application, Prepared, Role};
use purgehook::shutdown::Shutdown;
use rand::Rng;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "freshness-bench-secret";

/// Records when each purged URL's call arrived.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<(String, Instant)>>>);

impl Respond for Arrivals {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let now = Instant::now();
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let mut arrivals = self.0.lock().unwrap();
        for url in body["urls"].as_array().into_iter().flatten() {
            arrivals.push((url.as_str().unwrap_or_default().to_string(), now));
        }
        ResponseTemplate::new(200)
    }
}

fn config(provider: &str, window_ms: u64) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
[sources.github]
kind = "github"
secrets = ["{SECRET}"]
[targets.site]
provider = "http"
url = "{provider}/purge"
body = '{{"urls": {{{{ action.urls | tojson }}}}}}'
window = "{window_ms}ms"
[[rules]]
name = "page changed"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
urls = ["{{{{ payload.url }}}}"]
"#
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let events = args.first().copied().unwrap_or(300) as usize;
    let window = Duration::from_millis(args.get(1).copied().unwrap_or(200));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(events, window));
}

async fn run(events: usize, window: Duration) {
    let provider = MockServer::start().await;
    let arrivals = Arrivals::default();
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(arrivals.clone())
        .mount(&provider)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = vec![(
        "PURGEHOOK__QUEUE__PATH".to_string(),
        format!("\"{}\"", dir.path().display()),
    )];
    let settings = purgehook::config::from_toml(
        &config(&provider.uri(), window.as_millis() as u64),
        std::path::Path::new("freshness.toml"),
        overrides,
    )
    .expect("config");
    let prepared = Prepared::new(settings).expect("compiles");
    // Signed by the source itself, as `purgehook sign` does.
    let github = prepared.sources["github"].clone();
    let app = Application::build(prepared, Role::Serve)
        .await
        .expect("app");
    let hooks = format!("http://127.0.0.1:{}/hooks/github", app.port().unwrap_or(0));
    let shutdown = Shutdown::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = purgehook::provider::client().expect("an HTTP client");

    let mut accepted = Vec::with_capacity(events);
    for index in 0..events {
        let gap = rand::rng().random_range(0..window.as_millis() as u64 * 2);
        tokio::time::sleep(Duration::from_millis(gap)).await;
        let url = format!("https://site.example/page/{index}");
        let body = serde_json::json!({"url": url}).to_string();
        let mut request = client.post(&hooks);
        let signed = github
            .sign(body.as_bytes(), Some("push"), SystemTime::now())
            .expect("signed");
        for (name, value) in signed.headers {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.expect("receiver answers");
        assert_eq!(response.status(), 202, "the event is accepted");
        accepted.push((url, Instant::now()));
    }
    let deadline = Instant::now() + window * 10 + Duration::from_secs(10);
    while arrivals.0.lock().unwrap().len() < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.trigger();
    let _ = running.await;

    let arrived = arrivals.0.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = accepted
        .iter()
        .filter_map(|(url, at)| {
            arrived
                .iter()
                .find(|(purged, _)| purged == url)
                .map(|(_, called)| called.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let calls = provider.received_requests().await.unwrap_or_default().len();
    println!(
        "freshness: {events} events, window {window:?}, {} purged in {calls} calls",
        latencies.len()
    );
    if latencies.is_empty() {
        return;
    }
    let max = latencies[latencies.len() - 1];
    println!(
        "event→call latency after the 202: p50 {:?}, p99 {:?}, max {:?}; worst overshoot of the window {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        max,
        max.saturating_sub(window)
    );
}
