//! Spawning the app, signing deliveries like the real senders, and polling
//! with a deadline.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use purgehook::app::{Application, Prepared, Role};
use purgehook::config;
use purgehook::queue::Queue;
use purgehook::shutdown::Shutdown;
use sha2::Sha256;
use tempfile::TempDir;

pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const WP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A WordPress application password: its spaces are part of it.
pub const APP_PASSWORD: &str = "abcd EFGH 1234 ijkl MNOP 6789";

pub const PUSH_NEW_BRANCH: &[u8] =
    include_bytes!("../fixtures/github/push-with-new-branch.payload.json");
pub const PING: &[u8] = include_bytes!("../fixtures/github/ping-payload.json");

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub queue: Queue,
    pub client: reqwest::Client,
    /// Reloads the app's configuration, as SIGHUP does.
    pub reloader: purgehook::app::Reloader,
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<()>>,
    pub dir: TempDir,
}

/// The sources every test config has, secrets given literally (test only).
pub fn sources() -> String {
    format!(
        r#"
[sources.github]
kind = "github"
secrets = ["{GITHUB_SECRET}"]

[sources.wp]
kind = "standard"
secrets = ["{WP_SECRET}"]
"#
    )
}

/// Starts the app with `toml` (listen and queue path are overridden).
pub async fn spawn_app(toml: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(toml, dir).await
}

/// Starts the app with its queue in `dir`.
pub async fn spawn_app_in(toml: &str, dir: TempDir) -> TestApp {
    let overrides = vec![(
        "PURGEHOOK__QUEUE__PATH".to_string(),
        format!("\"{}\"", dir.path().join("queue").display()),
    )];
    spawn_role(toml, Role::Serve, overrides, dir).await
}

/// Starts `role` with `toml` and extra `PURGEHOOK__` overrides; the receiver
/// listens on a free port.
pub async fn spawn_role(
    toml: &str,
    role: Role,
    mut overrides: Vec<(String, String)>,
    dir: TempDir,
) -> TestApp {
    overrides.push((
        "PURGEHOOK__SERVER__LISTEN".to_string(),
        "127.0.0.1:0".to_string(),
    ));
    // The embedded store, or on RabbitMQ a receiver's spool, in the test's
    // own directory.
    if !overrides
        .iter()
        .any(|(name, _)| name == "PURGEHOOK__QUEUE__PATH")
    {
        overrides.push((
            "PURGEHOOK__QUEUE__PATH".to_string(),
            format!("\"{}\"", dir.path().join("queue").display()),
        ));
    }
    let settings =
        config::from_toml(toml, Path::new("test.toml"), overrides).expect("valid config");
    let prepared = Prepared::new(settings).expect("config compiles");
    let app = Application::build(prepared, role)
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port().unwrap_or(0));
    let queue = app.queue().clone();
    let reloader = app.reloader();
    let shutdown = Shutdown::new();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { app.run_until_stopped(shutdown).await.expect("app runs") }
    });
    TestApp {
        address,
        queue,
        client: test_client(),
        reloader,
        shutdown,
        task: Some(task),
        dir,
    }
}

/// The test's HTTP client. It asks the app to close each connection after
/// its answer: a graceful stop waits for open connections, checking again
/// every second, and an idle keep-alive connection would cost that second.
/// It speaks plain HTTP to the app, so it loads no root certificates.
fn test_client() -> reqwest::Client {
    // Every client needs the process's crypto provider; an error means one
    // is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let close = reqwest::header::HeaderValue::from_static("close");
    reqwest::Client::builder()
        .default_headers([(reqwest::header::CONNECTION, close)].into_iter().collect())
        .tls_certs_only([])
        .build()
        .expect("a client")
}

impl TestApp {
    /// POSTs `body` to `/hooks/{source}` with `headers`.
    pub async fn post_hook(
        &self,
        source: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/hooks/{source}", self.address))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.expect("request sent")
    }

    /// GETs `path` (e.g. `/healthz`).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Sends a GitHub delivery signed as GitHub signs it.
    pub async fn github(&self, event: &str, body: &[u8]) -> reqwest::Response {
        self.post_hook("github", &github_headers(event, body), body)
            .await
    }

    /// Sends a Standard Webhooks delivery signed by the reference library.
    pub async fn wordpress(&self, body: &[u8]) -> reqwest::Response {
        self.post_hook("wp", &standard_headers(body), body).await
    }

    /// Stops the app gracefully and waits for it. The test's HTTP client is
    /// closed first, so that no connection of its can hold the stop.
    pub async fn stop(self) -> TempDir {
        let TestApp {
            client,
            shutdown,
            task,
            dir,
            ..
        } = self;
        drop(client);
        shutdown.trigger();
        if let Some(task) = task {
            task.await.expect("app task ends");
        }
        dir
    }
}

/// GitHub's headers for a new delivery (a fresh `X-GitHub-Delivery`):
/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`.
pub fn github_headers(event: &str, body: &[u8]) -> Vec<(String, String)> {
    github_delivery(event, body, &uuid::Uuid::now_v7().to_string())
}

/// GitHub's headers for the delivery `delivery_id` (GitHub resends a
/// delivery under its id).
pub fn github_delivery(event: &str, body: &[u8], delivery_id: &str) -> Vec<(String, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body);
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-GitHub-Event".into(), event.into()),
        ("X-GitHub-Delivery".into(), delivery_id.into()),
        (
            "X-Hub-Signature-256".into(),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        ),
    ]
}

/// Standard Webhooks headers, made by the official `standardwebhooks` crate.
pub fn standard_headers(body: &[u8]) -> Vec<(String, String)> {
    let signer = standardwebhooks::Webhook::new(WP_SECRET).unwrap();
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = signer.sign(&id, ts, body).unwrap();
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("webhook-id".into(), id),
        ("webhook-timestamp".into(), ts.to_string()),
        ("webhook-signature".into(), signature),
    ]
}

/// A WordPress post event as the bundled plugin sends it.
pub fn post_event(kind: &str, id: u64, post_type: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": kind,
        "timestamp": "2026-11-23T20:31:00Z",
        "data": {"post": {"ID": id, "post_type": post_type, "post_title": "Hello"}}
    }))
    .unwrap()
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the real binary with `command` and the config file, and returns it
/// with its receiver's port (0 for a worker) once it says it is serving.
pub fn spawn_binary(command: &str, config: &Path, env: &[(&str, &str)]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .arg(command)
        .env("PURGEHOOK_CONFIG", config)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("the process says it is serving before its output ends")
            .expect("readable output");
        if let Some(rest) = line
            .split("port=")
            .nth(1)
            .filter(|_| line.contains("purgehook is serving"))
        {
            break rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a port number");
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

/// A job purging `target`'s object cache (a WP Engine cache type).
pub fn object_purge(target: &str) -> purgehook::job::Job {
    let action = purgehook::action::Action::Scopes {
        scopes: vec!["object".into()],
        full: false,
    };
    purgehook::job::Job::new(tid(target), action, None)
}

/// A target id (test ids are valid).
pub fn tid(id: &str) -> purgehook::job::TargetId {
    purgehook::job::TargetId::new(id).expect("a valid target id")
}

/// Deletes the RabbitMQ queues and exchanges that `prefix` declared for
/// `targets` at the broker `url` (a test's clean-up).
pub async fn delete_amqp_topology(url: String, prefix: &str, targets: &[&str]) {
    use purgehook::config::{AmqpQueueType, QueueBackendKind, QueueSettings};
    let settings = QueueSettings {
        backend: QueueBackendKind::Amqp,
        urls: vec![url],
        prefix: prefix.to_string(),
        queue_type: AmqpQueueType::Quorum,
        ..QueueSettings::default()
    };
    let targets: Vec<_> = targets.iter().map(|target| tid(target)).collect();
    let how = purgehook::queue::Connect {
        name: "purgehook test clean-up",
        targets: &targets,
        prefetch: 1,
        spool: false,
    };
    let queue = Queue::open(&settings, &Default::default(), how)
        .await
        .unwrap();
    if let Queue::Amqp(amqp) = &queue {
        amqp.delete_topology(&targets).await.unwrap();
    }
    queue.close().await;
}
