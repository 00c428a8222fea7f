//! The operator's handles: `POST /api/v1/purge` (bearer tokens, 400 naming
//! the field, 404 for an unknown target), `purgehook purge`, dead letters
//! listed, replayed and deleted with `purgehook dlq` and the API while the
//! service runs — on the embedded store (through the API) and on RabbitMQ
//! (on the broker) — and `purgehook health`, the container's check.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use purgehook::app::Role;
use serde_json::{Value, json};

use crate::fakes::bigscoots::BigScoots;
use crate::helpers::tid;
use crate::helpers::*;
use crate::services::amqp_url;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "operator-token-1";

/// A BigScoots blog and a log target, an API token, and a worker that
/// gives up after two attempts.
fn operator_config(site: &BigScoots) -> String {
    format!(
        r#"{}{}
[targets.notes]
provider = "log"

[server]
api_tokens = ["another-operator-token", "{TOKEN}"]

[worker]
window = "10ms"
backoff = "10ms"
max_backoff = "20ms"
max_attempts = 2
"#,
        sources(),
        site.target("blog", APP_PASSWORD, "")
    )
}

async fn post_purge(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/purge", app.address))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_purge_api_queues_a_checked_action_for_a_known_target() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let app = spawn_app(&operator_config(&site)).await;

    let (status, body) = post_purge(
        &app,
        Some(TOKEN),
        json!({"target": "blog", "action": {"kind": "post_ids", "post_ids": [42], "related": true}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["target"], "blog");
    // DESIGN's shape, the action's fields beside the target, works too.
    let (status, flat) = post_purge(
        &app,
        Some(TOKEN),
        json!({"target": "notes", "kind": "tags", "tags": ["news"]}),
    )
    .await;
    assert_eq!(status, 202, "{flat}");
    let (status, flat) = post_purge(
        &app,
        Some(TOKEN),
        json!({"target": "notes", "kind": "post_ids", "post_ids": ["x"]}),
    )
    .await;
    assert_eq!((status, flat["field"].as_str()), (400, Some("post_ids[0]")));
    assert!(body["job_id"].as_str().is_some_and(|id| id.len() == 36));
    let calls = eventually(WAIT, "the purge", || async {
        let calls = site.requests().await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(sent["post_ids"], json!([42]), "{sent}");
}

#[tokio::test]
async fn the_purge_api_refuses_bad_tokens_and_bad_bodies_naming_the_field() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let app = spawn_app(&operator_config(&site)).await;
    let urls =
        json!({"target": "notes", "action": {"kind": "urls", "urls": ["https://a.example/"]}});

    for token in [None, Some("wrong"), Some("")] {
        let (status, body) = post_purge(&app, token, urls.clone()).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["error"], "unauthorized");
    }
    let (status, body) = post_purge(
        &app,
        Some(TOKEN),
        json!({"target": "cdn", "action": {"kind": "everything"}}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_target"))
    );

    let too_many: Vec<String> = (0..10_001)
        .map(|i| format!("https://a.example/{i}"))
        .collect();
    let cases = [
        (json!({"action": {"kind": "everything"}}), "target"),
        (json!({"target": "notes"}), "action"),
        (
            json!({"target": "notes", "action": {"kind": "sideways"}}),
            "action.kind",
        ),
        (
            json!({"target": "notes", "action": {"kind": "urls", "urls": []}}),
            "action.urls",
        ),
        (
            json!({"target": "notes", "action": {"kind": "urls", "urls": ["/relative/path"]}}),
            "action.urls",
        ),
        (
            json!({"target": "notes", "action": {"kind": "urls", "urls": too_many}}),
            "action.urls",
        ),
        (
            json!({"target": "notes", "action": {"kind": "post_ids", "post_ids": ["seven"]}}),
            "action.post_ids[0]",
        ),
        (
            json!({"target": "notes", "action": {"kind": "post_ids", "post_ids": [1.5]}}),
            "action.post_ids[0]",
        ),
        (
            json!({"target": "blog", "action": {"kind": "tags", "tags": ["x"]}}),
            "action.kind",
        ),
        (
            json!({"target": "notes", "action": {"kind": "everything"}, "priority": 1}),
            "priority",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = post_purge(&app, Some(TOKEN), request.clone()).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(body["field"], field, "{request}: {body}");
        assert_eq!(body["error"], "invalid_request");
    }
    let lower_case_scheme = app
        .client
        .post(format!("{}/api/v1/purge", app.address))
        .header("Authorization", format!("bearer {TOKEN}"))
        .json(&json!({"target": "notes", "action": {"kind": "everything", "full": "yes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(lower_case_scheme.status(), 400, "authorized, then refused");
    let body: Value = lower_case_scheme.json().await.unwrap();
    assert_eq!(body["field"], "action.full");
    let response = app
        .client
        .post(format!("{}/api/v1/purge", app.address))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        app.queue.pending_jobs("notes") == Some(0) && site.requests().await.is_empty(),
        "nothing refused was queued"
    );
}

/// Runs the binary with `config` and extra environment.
pub(crate) fn purgehook(args: &[&str], config: &Path, env: &[(&str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .args(args)
        .env("PURGEHOOK_CONFIG", config)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the binary runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `serve` process on the embedded store, and the environment that points
/// the commands at it.
pub(crate) struct Running {
    child: Child,
    pub config: PathBuf,
    pub env: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(toml: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    let store = format!("{}", dir.path().join("queue").display());
    std::fs::write(
        &config,
        toml.replace("[server]", "[server]\nlisten = \"127.0.0.1:0\""),
    )
    .unwrap();
    let (child, port) = spawn_binary("serve", &config, &[("PURGEHOOK__QUEUE__PATH", &store)]);
    Running {
        child,
        config,
        env: vec![
            ("PURGEHOOK__QUEUE__PATH", store),
            ("PURGEHOOK__SERVER__LISTEN", format!("127.0.0.1:{port}")),
        ],
        _dir: dir,
    }
}

fn dead_letters(running: &Running) -> Vec<Value> {
    let output = purgehook(&["dlq", "list", "--json"], &running.config, &running.env);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("dlq list --json prints JSON")
}

#[tokio::test]
async fn a_job_that_exhausts_its_attempts_is_listed_then_replayed_and_done() {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(2, 503).await;
    let running = serve(&operator_config(&site));

    let output = purgehook(
        &[
            "purge",
            "--target",
            "blog",
            "--post-id",
            "7",
            "--post-id",
            "8",
        ],
        &running.config,
        &running.env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let job_id = printed
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("a job id in {printed:?}"))
        .to_string();

    let letters = eventually(WAIT, "the dead letter", || async {
        let letters = dead_letters(&running);
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["id"], job_id.as_str());
    assert_eq!(letters[0]["target"], "blog");
    assert_eq!(letters[0]["attempts"], 2);
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("503"),
        "{letters:?}"
    );
    let table = stdout(&purgehook(&["dlq", "list"], &running.config, &running.env));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&job_id) && table.contains("post_ids ×2"),
        "{table}"
    );

    let unknown = purgehook(
        &[
            "dlq",
            "replay",
            "--id",
            "0190ffff-0000-7000-8000-000000000000",
        ],
        &running.config,
        &running.env,
    );
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no dead letter has id"),
        "{}",
        stderr(&unknown)
    );
    assert_eq!(site.requests().await.len(), 2);

    let replay = purgehook(
        &["dlq", "replay", "--id", &job_id],
        &running.config,
        &running.env,
    );
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(stdout(&replay).contains(&job_id));
    eventually(WAIT, "the replayed purge", || async {
        (site.requests().await.len() == 3).then_some(())
    })
    .await;
    assert!(dead_letters(&running).is_empty());
}

#[test]
fn the_purge_command_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(&config, "[targets.notes]\nprovider = \"log\"\n").unwrap();
    let env = [(
        "PURGEHOOK__QUEUE__PATH",
        format!("{}", dir.path().join("queue").display()),
    )];

    // Each refused with its exit status, saying what is wrong.
    let refused = |args: &[&str], status: i32, says: &str| {
        let output = purgehook(&[&["purge", "--target"], args].concat(), &config, &env);
        assert_eq!(output.status.code(), Some(status), "{args:?}");
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    };
    refused(&["notes", "--post-id", "abc"], 2, "--post-id");
    refused(&["notes"], 2, "");
    refused(&["cdn", "--everything"], 1, "no target named \"cdn\"");
    refused(&["notes", "--url", "/about/"], 1, "not an absolute");
    // No store yet (nothing ever ran here): said, and nothing is created.
    refused(
        &["notes", "--everything"],
        1,
        "there is no embedded store at",
    );
    assert!(!dir.path().join("queue").exists());

    // With no service running, the command writes to the store itself.
    let store = dir.path().join("queue");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let queue = purgehook::queue::Queue::open_embedded(&store)
            .await
            .unwrap();
        queue.close().await;
    });
    let queued = purgehook(
        &["purge", "--target", "notes", "--everything"],
        &config,
        &env,
    );
    assert!(queued.status.success(), "{}", stderr(&queued));
    let pending = runtime.block_on(async {
        let queue = purgehook::queue::Queue::open_embedded(&store)
            .await
            .unwrap();
        let pending = queue.pending_jobs("notes");
        queue.close().await;
        pending
    });
    assert_eq!(pending, Some(1));
}

#[tokio::test]
async fn on_rabbitmq_dead_letters_are_listed_and_replayed_on_the_broker() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(2, 503).await;
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(&config, operator_config(&site)).unwrap();
    let env = [
        ("PURGEHOOK__QUEUE__BACKEND", "amqp".to_string()),
        ("PURGEHOOK__QUEUE__URL", amqp_url()),
        ("PURGEHOOK__QUEUE__PREFIX", prefix.clone()),
    ];
    let overrides: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let worker = spawn_role(
        &operator_config(&site),
        Role::Worker,
        overrides,
        tempfile::tempdir().unwrap(),
    )
    .await;

    let output = purgehook(
        &["purge", "--target", "blog", "--everything"],
        &config,
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let letters: Vec<Value> = eventually(WAIT, "the dead letter", || async {
        let output = purgehook(&["dlq", "list", "--json"], &config, &env);
        assert!(output.status.success(), "{}", stderr(&output));
        let letters: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters[0]["attempts"], 2);
    let id = letters[0]["id"].as_str().unwrap().to_string();

    let replay = purgehook(&["dlq", "replay", "--target", "blog"], &config, &env);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(stdout(&replay).contains(&id));
    eventually(WAIT, "the replayed purge", || async {
        (site.requests().await.len() == 3).then_some(())
    })
    .await;
    let output = purgehook(&["dlq", "list", "--json"], &config, &env);
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap(),
        Vec::<Value>::new()
    );

    worker.stop().await;
    let settings = purgehook::config::QueueSettings {
        backend: purgehook::config::QueueBackendKind::Amqp,
        urls: vec![amqp_url()],
        prefix,
        ..Default::default()
    };
    let targets = [tid("blog"), tid("notes")];
    let queue = purgehook::queue::Queue::open(
        &settings,
        &Default::default(),
        purgehook::queue::Connect {
            name: "test-clean-up",
            targets: &targets,
            prefetch: 1,
            spool: false,
        },
    )
    .await
    .unwrap();
    if let purgehook::queue::Queue::Amqp(amqp) = &queue {
        amqp.delete_topology(&targets).await.unwrap();
        amqp.close().await;
    }
}

#[tokio::test]
async fn merged_jobs_that_fail_keep_their_ids_and_dead_letters_can_be_deleted() {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(10, 503).await;
    let running = serve(&operator_config(&site));
    // Two purges queued together are merged into one call, which fails.
    let ids: Vec<String> = ["7", "8"]
        .iter()
        .map(|id| {
            let output = purgehook(
                &["purge", "--target", "blog", "--post-id", id],
                &running.config,
                &running.env,
            );
            assert!(output.status.success(), "{}", stderr(&output));
            let printed = stdout(&output);
            let start = printed.find("(job ").unwrap() + 5;
            printed[start..start + 36].to_string()
        })
        .collect();
    let letters = eventually(WAIT, "the dead letters", || async {
        let letters = dead_letters(&running);
        let covered: Vec<String> = letters
            .iter()
            .flat_map(|l| {
                let own = l["id"].as_str().map(str::to_string);
                let merged = l["job"]["merged_from"]
                    .as_array()
                    .map(|ids| {
                        ids.iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_else(Vec::new);
                own.into_iter().chain(merged)
            })
            .collect();
        ids.iter().all(|id| covered.contains(id)).then_some(letters)
    })
    .await;

    // Each id the command printed finds its letter: delete by one of them.
    let delete = purgehook(
        &["dlq", "delete", "--id", &ids[0]],
        &running.config,
        &running.env,
    );
    assert!(delete.status.success(), "{}", stderr(&delete));
    assert!(stdout(&delete).contains("deleted"), "{}", stdout(&delete));
    let remaining = dead_letters(&running);
    assert!(remaining.len() < letters.len() || remaining.is_empty());

    let nothing = purgehook(&["dlq", "delete"], &running.config, &running.env);
    assert_eq!(nothing.status.code(), Some(2), "says which letters");
    let all = purgehook(&["dlq", "delete", "--all"], &running.config, &running.env);
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(dead_letters(&running).is_empty());
    let unknown = purgehook(
        &[
            "dlq",
            "delete",
            "--id",
            "0190ffff-0000-7000-8000-000000000000",
        ],
        &running.config,
        &running.env,
    );
    assert!(!unknown.status.success());
}

#[tokio::test]
async fn health_says_ready_while_the_service_runs_and_why_not_once_it_stopped() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let mut running = serve(&operator_config(&site));
    let ready = purgehook(&["health"], &running.config, &running.env);
    assert!(ready.status.success(), "{}", stdout(&ready));
    assert!(
        stdout(&ready).starts_with("ready: http://127.0.0.1:"),
        "{}",
        stdout(&ready)
    );

    running.child.kill().unwrap();
    running.child.wait().unwrap();
    let gone = purgehook(&["health"], &running.config, &running.env);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stdout(&gone).starts_with("not ready:"), "{}", stdout(&gone));
    let elsewhere = purgehook(
        &["health", "--url", "http://127.0.0.1:1/readyz"],
        &running.config,
        &running.env,
    );
    assert_eq!(elsewhere.status.code(), Some(1));
    assert!(
        stdout(&elsewhere).contains("127.0.0.1:1"),
        "{}",
        stdout(&elsewhere)
    );
}

#[tokio::test]
async fn the_api_deletes_dead_letters_by_id_or_target_and_says_what_is_wrong() {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(4, 503).await;
    let app = spawn_app(&operator_config(&site)).await;
    for post in [1, 2] {
        let (status, _) = post_purge(
            &app,
            Some(TOKEN),
            json!({"target": "blog", "kind": "post_ids", "post_ids": [post]}),
        )
        .await;
        assert_eq!(status, 202);
        // One letter per purge: the next waits for this one's letter.
        eventually(WAIT, "the dead letter", || async {
            (app.queue.dead_letters().await.unwrap().len() == post).then_some(())
        })
        .await;
    }
    let delete = |body: Value, token: &'static str| {
        let request = app
            .client
            .post(format!("{}/api/v1/dead-letters/delete", app.address))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(delete(json!({}), "wrong-token-of-someone").await.0, 401);
    let (status, body) = delete(json!({}), TOKEN).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("body")),
        "{body}"
    );
    let (status, body) = delete(json!({"all": "yes"}), TOKEN).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("all")),
        "{body}"
    );
    let (status, body) = delete(json!({"id": "0190ffff-0000-7000-8000-000000000000"}), TOKEN).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no_dead_letter")),
        "{body}"
    );

    let letters = app.queue.dead_letters().await.unwrap();
    let (status, body) = delete(json!({"id": letters[0].id}), TOKEN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"][0]["id"], letters[0].id.as_str());
    assert_eq!(app.queue.dead_letters().await.unwrap().len(), 1);
    let (status, body) = delete(json!({"target": "blog"}), TOKEN).await;
    assert_eq!(
        (status, body["deleted"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    assert!(app.queue.dead_letters().await.unwrap().is_empty());
    app.stop().await;
}
