//! Receivers and workers as separate processes on the real RabbitMQ: the
//! whole path across processes, a standby worker taking over from one killed
//! mid-call, producers' bad messages dead-lettered, the declared topology,
//! broker loss and recovery, and clear start-up errors.

use std::collections::BTreeSet;
use std::time::Duration;

use lapin::{BasicProperties, Connection, ConnectionProperties};
use purgehook::app::Role;
use purgehook::config::{AmqpQueueType, QueueBackendKind, QueueSettings};
use purgehook::queue::Queue;
use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::{method, path};

use crate::fakes::bigscoots::BigScoots;
use crate::fakes::json as body_json;
use crate::helpers::tid;
use crate::helpers::*;
use crate::services::amqp_url;

const WAIT: Duration = Duration::from_secs(20);

/// A deployment's shared settings: one broker prefix, one BigScoots site.
pub struct Deployment {
    prefix: String,
    pub config: String,
}

impl Deployment {
    pub fn new(site: &BigScoots, window: &str) -> Deployment {
        let config = format!(
            r#"{}{}
[worker]
window = "{window}"
backoff = "10ms"
max_backoff = "50ms"

[[rules]]
name = "published post"
source = "wp"
[[rules.actions]]
target = "blog"
post_ids = ["{{{{ payload.data.post.ID }}}}"]
"#,
            sources(),
            site.target("blog", APP_PASSWORD, "")
        );
        Deployment {
            prefix: format!("test-{}", uuid::Uuid::now_v7().simple()),
            config,
        }
    }

    pub fn overrides(&self, url: &str) -> Vec<(String, String)> {
        vec![
            ("PURGEHOOK__QUEUE__BACKEND".into(), "amqp".into()),
            ("PURGEHOOK__QUEUE__URL".into(), url.into()),
            ("PURGEHOOK__QUEUE__PREFIX".into(), self.prefix.clone()),
        ]
    }

    pub async fn spawn(&self, role: Role) -> TestApp {
        self.spawn_via(role, &amqp_url()).await
    }

    /// A worker serving its operations endpoints on a free port.
    async fn spawn_observable_worker(&self) -> TestApp {
        let mut overrides = self.overrides(&amqp_url());
        overrides.push(("PURGEHOOK__WORKER__LISTEN".into(), "127.0.0.1:0".into()));
        spawn_role(
            &self.config,
            Role::Worker,
            overrides,
            tempfile::tempdir().unwrap(),
        )
        .await
    }

    pub async fn spawn_via(&self, role: Role, url: &str) -> TestApp {
        spawn_role(
            &self.config,
            role,
            self.overrides(url),
            tempfile::tempdir().unwrap(),
        )
        .await
    }

    fn settings(&self) -> QueueSettings {
        QueueSettings {
            backend: QueueBackendKind::Amqp,
            path: "unused".into(),
            urls: vec![amqp_url()],
            prefix: self.prefix.clone(),
            queue_type: AmqpQueueType::Quorum,
            ..QueueSettings::default()
        }
    }

    async fn queue(&self) -> Queue {
        Queue::open(
            &self.settings(),
            &Default::default(),
            purgehook::queue::Connect {
                name: "purgehook test",
                targets: &[tid("blog")],
                prefetch: 10,
                spool: false,
            },
        )
        .await
        .expect("broker reachable")
    }

    /// Publishes `body` to this deployment's jobs exchange, persistent and
    /// confirmed, as a producer would.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        crate::queue::publish_raw(&self.prefix, routing_key, body, BasicProperties::default())
            .await;
    }

    /// How many messages wait, ready, in `target`'s queue.
    pub async fn messages_waiting(&self, target: &str) -> u32 {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queue = format!("{}.jobs.{target}", self.prefix);
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let declared = channel
            .queue_declare(queue.as_str().into(), passive, Default::default())
            .await
            .unwrap();
        let _ = connection.close(200, "counted".into()).await;
        declared.message_count()
    }

    pub async fn clean_up(&self) {
        self.clean_up_with(&["blog"]).await;
    }

    /// Deletes the topology, `targets`' queues included.
    pub async fn clean_up_with(&self, targets: &[&str]) {
        if let Queue::Amqp(queue) = self.queue().await {
            let targets: Vec<_> = targets.iter().map(|t| tid(t)).collect();
            queue.delete_topology(&targets).await.expect("clean up");
            queue.close().await;
        }
    }
}

pub fn purged_ids(calls: &[wiremock::Request]) -> Vec<u64> {
    calls
        .iter()
        .flat_map(|c| {
            body_json(c)["post_ids"]
                .as_array()
                .map(|ids| ids.iter().filter_map(|v| v.as_u64()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn a_receiver_and_two_workers_purge_every_event_once() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "100ms");
    let receiver = deployment.spawn(Role::Receiver).await;
    let workers = [
        deployment.spawn_observable_worker().await,
        deployment.spawn(Role::Worker).await,
    ];
    for endpoint in ["healthz", "readyz", "metrics"] {
        let url = format!("{}/{endpoint}", workers[0].address);
        let response = workers[0].client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "worker /{endpoint}");
    }

    for id in 1..=20 {
        let response = receiver
            .wordpress(&post_event("post.published", id, "post"))
            .await;
        assert_eq!(response.status(), 202);
    }
    let ids = eventually(WAIT, "all twenty posts purged", || async {
        let ids = purged_ids(&site.requests().await);
        (ids.len() >= 20).then_some(ids)
    })
    .await;
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique, (1..=20).collect());
    assert_eq!(ids.len(), 20, "no post purged twice: {ids:?}");

    for worker in workers {
        worker.stop().await;
    }
    receiver.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn a_standby_worker_takes_over_a_job_whose_worker_was_killed_mid_call() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    // The first call hangs long enough to kill its worker during it.
    wiremock::Mock::given(method("PATCH"))
        .and(path("/wp-json/bigscoots-cache/v2/clear-cache"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&site.server)
        .await;
    let deployment = Deployment::new(&site, "10ms");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(&config, &deployment.config).unwrap();
    let env: Vec<(String, String)> = deployment.overrides(&amqp_url());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // The active worker is a real process; the standby starts after it.
    let (mut active, _) = spawn_binary("worker", &config, &env);
    let receiver = deployment.spawn(Role::Receiver).await;
    let standby = deployment.spawn(Role::Worker).await;

    assert_eq!(
        receiver
            .wordpress(&post_event("post.published", 77, "post"))
            .await
            .status(),
        202
    );
    eventually(WAIT, "the active worker's call", || async {
        (!site.requests().await.is_empty()).then_some(())
    })
    .await;
    active.kill().expect("SIGKILL");
    active.wait().unwrap();

    let calls = eventually(WAIT, "the standby's call", || async {
        let calls = site.requests().await;
        (calls.len() >= 2).then_some(calls)
    })
    .await;
    assert_eq!(
        body_json(&calls[1]),
        json!({"purge_type": "post_ids", "post_ids": [77]})
    );

    standby.stop().await;
    receiver.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn producers_bad_messages_are_dead_lettered_and_the_worker_lives_on() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let worker = deployment.spawn(Role::Worker).await;

    let job = |target: &str, v: u8| {
        json!({"v": v, "id": uuid::Uuid::now_v7(), "target": target,
               "action": {"kind": "post_ids", "post_ids": [5]}, "created_at": "2026-11-24T00:00:00Z"})
        .to_string()
    };
    let array = |jobs: &[String]| format!("[{}]", jobs.join(","));
    let messages = [
        ("blog", "this is not JSON".to_string()),
        ("blog", job("blog", 2)),
        ("blog", job("shop", 1)),
        ("nowhere", job("nowhere", 1)),
        ("blog", array(&[job("blog", 1), job("shop", 1)])),
        ("blog", "[]".to_string()),
        ("blog", job("blog", 1)),
    ];
    for (routing_key, body) in &messages {
        deployment.publish_raw(routing_key, body.as_bytes()).await;
    }

    // The valid one runs: the worker survived the others.
    eventually(WAIT, "the valid producer job", || async {
        (purged_ids(&site.requests().await) == [5]).then_some(())
    })
    .await;
    let queue = deployment.queue().await;
    let dead = eventually(WAIT, "six dead letters", || async {
        let dead = queue.dead_letters().await.unwrap();
        (dead.len() == 6).then_some(dead)
    })
    .await;
    let reasons: Vec<(String, String)> = dead
        .iter()
        .map(|d| (d.target.clone(), d.reason.clone()))
        .collect();
    let has = |target: &str, words: &str| {
        reasons
            .iter()
            .any(|(t, r)| t == target && r.contains(words))
    };
    assert!(has("blog", "not valid JSON"), "{reasons:#?}");
    assert!(has("blog", "unsupported schema version 2"), "{reasons:#?}");
    assert!(has("blog", "names target \"shop\""), "{reasons:#?}");
    assert!(
        has(
            "blog",
            "job 2 of the array's 2: the job names target \"shop\""
        ),
        "{reasons:#?}"
    );
    assert!(has("blog", "an empty array of jobs"), "{reasons:#?}");
    assert!(
        has("nowhere", "no target \"nowhere\" is configured"),
        "{reasons:#?}"
    );
    assert!(
        dead.iter()
            .any(|d| d.body.as_deref() == Some("this is not JSON"))
    );

    queue.close().await;
    worker.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn target_queues_are_quorum_queues_with_a_single_active_consumer_and_no_drop_limit() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    deployment.queue().await.close().await;
    let output = std::process::Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_queues",
            "name",
            "type",
            "arguments",
            "--formatter",
            "json",
        ])
        .output()
        .expect("rabbitmqctl runs");
    let queues: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON from rabbitmqctl");
    let declared = |name: String| {
        queues
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .unwrap_or_else(|| panic!("{name} declared"))
            .clone()
    };
    let queue = declared(format!("{}.jobs.blog", deployment.prefix));
    assert_eq!(queue["type"], "quorum");
    let arguments = queue["arguments"].to_string();
    assert!(arguments.contains("x-single-active-consumer"), "{queue}");
    // Handed-back jobs and read dead letters are never dropped by a
    // delivery limit (RabbitMQ 4 defaults to 20 returns).
    assert!(arguments.contains("x-delivery-limit"), "{queue}");
    let dead = declared(format!("{}.dead", deployment.prefix));
    assert!(
        dead["arguments"].to_string().contains("x-delivery-limit"),
        "{dead}"
    );
    deployment.clean_up().await;
}

/// A `purgehook worker` process on RabbitMQ at `url`, serving `/readyz`
/// on a free port, its stderr captured.
fn worker_process(url: &str) -> (std::process::Child, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(
        &config,
        format!(
            "{}[queue]\nbackend = \"amqp\"\n[worker]\nlisten = \"127.0.0.1:{port}\"\n",
            sources()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .arg("worker")
        .env("PURGEHOOK_CONFIG", &config)
        .env("PURGEHOOK__QUEUE__URL", url)
        .env("PURGEHOOK__QUEUE__PATH", dir.path().join("queue"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, port, dir)
}

#[tokio::test]
async fn a_worker_started_while_the_broker_is_unreachable_stays_up_and_not_ready() {
    let (mut child, port, _dir) = worker_process("amqp://guest:Sup3rS3cret@127.0.0.1:1/%2f");
    let client = purgehook::provider::client().unwrap();
    let status = eventually(WAIT, "the worker's /readyz", || async {
        let answer = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .ok()?;
        Some(answer.status().as_u16())
    })
    .await;
    assert_eq!(status, 503, "up, and saying it is not ready");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "names the host: {stderr}");
    assert!(
        !stderr.contains("Sup3rS3cret"),
        "never the password: {stderr}"
    );
}

#[test]
fn a_broker_that_refuses_the_connection_is_a_clear_start_up_error_without_the_password() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    for url in [
        "amqp://guest:Sup3rS3cret@127.0.0.1:5672/%2f",
        "amqp://guest:guest@127.0.0.1:5672/%2f-no-such-vhost",
    ] {
        let (child, _, _dir) = worker_process(url);
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("127.0.0.1:5672"),
            "names the host: {stderr}"
        );
        assert!(stderr.contains("refuses"), "says it refused: {stderr}");
        assert!(
            !stderr.contains("Sup3rS3cret"),
            "never the password: {stderr}"
        );
    }
}

#[test]
fn the_embedded_queue_cannot_be_split_into_processes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(&config, sources()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .arg("receiver")
        .env("PURGEHOOK_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("run `purgehook serve`"));
}

#[tokio::test]
async fn a_gracefully_stopped_worker_hands_its_collected_jobs_to_the_standby() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let receiver = deployment.spawn(Role::Receiver).await;
    // The active worker would hold its batch for an hour.
    let mut slow = deployment.overrides(&amqp_url());
    slow.push(("PURGEHOOK__TARGETS__BLOG__WINDOW".into(), "1h".into()));
    let active = spawn_role(
        &deployment.config,
        Role::Worker,
        slow,
        tempfile::tempdir().unwrap(),
    )
    .await;
    assert_eq!(
        receiver
            .wordpress(&post_event("post.published", 8, "post"))
            .await
            .status(),
        202
    );
    let standby = deployment.spawn(Role::Worker).await;

    tokio::time::timeout(Duration::from_secs(10), active.stop())
        .await
        .expect("a stop does not wait for the window");
    let calls = eventually(WAIT, "the standby to run the job", || async {
        let calls = site.requests().await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    assert_eq!(purged_ids(&calls), [8]);

    standby.stop().await;
    receiver.stop().await;
    deployment.clean_up().await;
}

/// Signed WordPress deliveries sent at once to a receiver on `port`: their
/// statuses.
async fn deliveries_at_once(port: u16, ids: std::ops::Range<u64>) -> Vec<u16> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::CONNECTION, "close".parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .tls_certs_only([])
        .build()
        .unwrap();
    let sends = ids.map(|id| {
        let body = post_event("post.published", id, "post");
        let mut request = client
            .post(format!("http://127.0.0.1:{port}/hooks/wp"))
            .body(body.clone());
        for (name, value) in standard_headers(&body) {
            request = request.header(name, value);
        }
        async move { request.send().await.map(|r| r.status().as_u16()) }
    });
    futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|status| status.expect("answered"))
        .collect()
}

#[tokio::test]
async fn a_receiver_publishes_over_four_connections_and_stops_on_sigterm() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "100ms");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(&config, &deployment.config).unwrap();
    let mut env: Vec<(String, String)> = deployment.overrides(&amqp_url());
    // No spool: a publish that fails answers 503 instead of being spooled.
    env.push(("PURGEHOOK__QUEUE__SPOOL".into(), "false".into()));
    env.push(("PURGEHOOK__QUEUE__PUBLISH_CONNECTIONS".into(), "4".into()));
    env.push(("PURGEHOOK__SERVER__LISTEN".into(), "127.0.0.1:0".into()));
    env.push((
        "PURGEHOOK__QUEUE__PATH".into(),
        dir.path().join("spool").display().to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (mut receiver, port) = spawn_binary("receiver", &config, &env);

    // Many channels made at once, over connections opened at once: every
    // delivery is published and confirmed.
    for round in 0..3 {
        let statuses = deliveries_at_once(port, round * 32 + 1..(round + 1) * 32 + 1).await;
        assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    }

    let pid = receiver.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let exit = eventually(Duration::from_secs(5), "the receiver's exit", || {
        let exited = receiver.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert!(exit.success(), "a clean exit: {exit:?}");
    deployment.clean_up().await;
}
