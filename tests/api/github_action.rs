//! The GitHub Action's script (`integrations/github-action/purge.sh`), run
//! with bash as the action runs it, against the app's purge API: one
//! request per kind, the API's own message when it refuses, and a 503 tried
//! again after its `Retry-After` (a stand-in answers the first request 503,
//! then passes every connection through to the app).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, sources, spawn_app};

const TOKEN: &str = "github-action-test-token-0123456789";

/// An environment variable of the script.
type Var<'a> = (&'a str, &'a str);

/// The app with an API token and an `http` target `site` posting each
/// action to a recorder.
async fn app() -> (TestApp, MockServer) {
    let recorder = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&recorder)
        .await;
    let config = format!(
        "{}\n[server]\napi_tokens = [\"{TOKEN}\"]\n[targets.site]\nprovider = \"http\"\n\
         url = \"{}/purge\"\nbody = '{{{{ action | tojson }}}}'\nwindow = \"10ms\"\n",
        sources(),
        recorder.uri()
    );
    (spawn_app(&config).await, recorder)
}

/// Runs the script with `env` (and nothing of the test's own `PURGEHOOK_…`).
async fn run(env: &[(&str, &str)]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/github-action/purge.sh");
    let mut command = Command::new("bash");
    command.arg(script);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PURGEHOOK_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    // The app runs on this runtime: wait for the script off it.
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn purges(recorder: &MockServer, count: usize) -> Vec<Value> {
    eventually(Duration::from_secs(10), "the purges", || async {
        let requests = recorder.received_requests().await.unwrap_or_default();
        (requests.len() >= count).then(|| {
            let mut actions: Vec<Value> = requests
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap())
                .collect();
            actions.sort_by_key(|a| a["kind"].to_string());
            actions
        })
    })
    .await
}

#[tokio::test]
async fn the_action_s_script_queues_one_purge_per_kind() {
    let (app, recorder) = app().await;
    let outputs = tempfile::NamedTempFile::new().unwrap();
    let output_path = outputs.path().to_str().unwrap();
    let out = run(&[
        ("PURGEHOOK_URL", &format!("{}/", app.address)),
        ("PURGEHOOK_TOKEN", TOKEN),
        ("PURGEHOOK_TARGET", "site"),
        (
            "PURGEHOOK_URLS",
            "https://site.example/blog/hello/\n\n  https://site.example/\"quoted\"/  \r\n",
        ),
        ("PURGEHOOK_TAGS", "blog\nnews"),
        ("GITHUB_OUTPUT", output_path),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("queued urls purge for target site (job "),
        "{stdout}"
    );
    assert!(
        stdout.contains("queued tags purge for target site (job "),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN) && !text(&out.stderr).contains(TOKEN));
    let written = std::fs::read_to_string(outputs.path()).unwrap();
    let ids: Vec<&str> = written
        .trim()
        .strip_prefix("job-ids=")
        .unwrap()
        .split(' ')
        .collect();
    assert!(
        ids.len() == 2 && ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{written}"
    );
    assert_eq!(
        purges(&recorder, 2).await,
        [
            json!({"kind": "tags", "tags": ["blog", "news"]}),
            json!({"kind": "urls", "urls": ["https://site.example/\"quoted\"/", "https://site.example/blog/hello/"]}),
        ]
    );
}

#[tokio::test]
async fn a_refused_purge_fails_the_step_with_the_api_s_message() {
    let (app, recorder) = app().await;
    let address = app.address.as_str();
    let cases: [(&[Var], i32, &str); 5] = [
        (
            &[("PURGEHOOK_URLS", "/about/")],
            1,
            r#"purgehook answered 400: action.urls: "/about/" is not an absolute http(s) URL"#,
        ),
        (
            &[
                ("PURGEHOOK_URLS", "https://site.example/"),
                ("PURGEHOOK_TOKEN", "a-wrong-token-0123456789"),
            ],
            1,
            "purgehook answered 401",
        ),
        (
            &[("PURGEHOOK_TAGS", "blog"), ("PURGEHOOK_TARGET", "nowhere")],
            1,
            "no target named \"nowhere\"",
        ),
        (
            &[("PURGEHOOK_TAGS", "blog"), ("PURGEHOOK_EVERYTHING", "true")],
            2,
            "give it alone",
        ),
        (&[("PURGEHOOK_URLS", " \n ")], 2, "nothing to purge"),
    ];
    for (extra, code, words) in cases {
        let mut env = vec![
            ("PURGEHOOK_URL", address),
            ("PURGEHOOK_TOKEN", TOKEN),
            ("PURGEHOOK_TARGET", "site"),
        ];
        env.extend_from_slice(extra);
        let out = run(&env).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{extra:?}: {stderr}");
        assert!(
            stderr.starts_with("::error::") && stderr.contains(words),
            "{extra:?}: {stderr}"
        );
    }
    let missing = run(&[("PURGEHOOK_URL", address), ("PURGEHOOK_TARGET", "site")]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("token is required"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(recorder.received_requests().await.unwrap().is_empty());
}

/// Answers its first request 503 with `Retry-After: 1`, as purgehook does
/// when its queue cannot take a job, then passes every connection through
/// to `upstream`. Returns its address and when each connection came.
async fn unavailable_once(upstream: String) -> (String, Arc<std::sync::Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let times = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            times.lock().unwrap().push(Instant::now());
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                let mut request = vec![0; 8192];
                let _ = client.read(&mut request).await;
                let body = r#"{"error":"queue_unavailable","message":"the queue cannot accept events right now; retry later"}"#;
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(answer.as_bytes()).await;
                continue;
            }
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (address, seen)
}

#[tokio::test]
async fn a_503_is_tried_again_after_its_retry_after() {
    let (app, recorder) = app().await;
    let upstream = app.address.trim_start_matches("http://").to_string();
    let (address, seen) = unavailable_once(upstream).await;
    let env = [
        ("PURGEHOOK_URL", address.as_str()),
        ("PURGEHOOK_TOKEN", TOKEN),
        ("PURGEHOOK_TARGET", "site"),
        ("PURGEHOOK_EVERYTHING", "true"),
    ];
    let out = run(&env).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("purgehook answered 503 (the queue cannot accept events right now; retry later); trying again in 1s (attempt 2 of 5)"), "{stderr}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[1] - seen[0] >= Duration::from_secs(1), "{seen:?}");
    assert_eq!(purges(&recorder, 1).await, [json!({"kind": "everything"})]);

    // A deployment that stays unavailable: the step fails once the
    // attempts are spent.
    let always = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .mount(&always)
        .await;
    let uri = always.uri();
    let env = [
        ("PURGEHOOK_URL", uri.as_str()),
        env[1],
        env[2],
        env[3],
        ("PURGEHOOK_ATTEMPTS", "3"),
    ];
    let out = run(&env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("everything purge not queued after 3 attempts"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(always.received_requests().await.unwrap().len(), 3);
}
