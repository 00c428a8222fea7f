//! The purge history on RabbitMQ, kept in PostgreSQL: a receiver and a
//! worker (separate roles, in this process) write into one table of the
//! test's own — the event and its job from the receiver, the call from the
//! worker — and the receiver's API answers from it; retention deletes old
//! rows; `purgehook purge` records its job there and `purgehook history`
//! reads the table itself. The table and the broker's queues are removed
//! after.

use std::time::Duration;

use purgehook::app::Role;
use serde_json::Value;

use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;
use crate::operator::{purgehook, stderr, stdout};
use crate::services::{amqp_url, postgres_missing, postgres_url, rabbitmq_missing};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "history-pg-token-0123456789";

fn config(site: &BigScoots, table: &str, retention: &str) -> String {
    format!(
        r#"{}{}
[[rules]]
name = "published"
source = "wp"
[[rules.actions]]
target = "pg-blog"
post_ids = ["{{{{ payload.data.post.ID }}}}"]

[server]
api_tokens = ["{TOKEN}"]

[worker]
window = "10ms"

[history]
postgres_url = "{}"
postgres_table = "{table}"
retention = "{retention}"
"#,
        sources(),
        site.target("pg-blog", APP_PASSWORD, ""),
        postgres_url(),
    )
}

async fn spawn(toml: &str, role: Role, prefix: &str) -> TestApp {
    let overrides = vec![
        ("PURGEHOOK__QUEUE__BACKEND".into(), "amqp".into()),
        ("PURGEHOOK__QUEUE__URL".into(), amqp_url()),
        ("PURGEHOOK__QUEUE__PREFIX".into(), prefix.to_string()),
        ("PURGEHOOK__WORKER__LISTEN".into(), "127.0.0.1:0".into()),
    ];
    spawn_role(toml, role, overrides, tempfile::tempdir().unwrap()).await
}

async fn history(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app
        .client
        .get(format!("{}/api/v1/history?{query}", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["records"].as_array().cloned().unwrap_or_default()
}

/// The table's row count; `None` while it cannot be read (not made yet).
async fn count_rows(table: &str) -> Option<i64> {
    let (client, connection) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .ok()?;
    Some(row.get(0))
}

async fn rows(table: &str) -> i64 {
    count_rows(table)
        .await
        .expect("the history table can be read")
}

/// A RabbitMQ prefix and a history table of the test's own.
fn own_names() -> (String, String) {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    (format!("test-{unique}"), format!("history_{unique}"))
}

async fn clean_up(prefix: &str, table: &str) {
    let (client, connection) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
        .await
        .unwrap();
    delete_amqp_topology(amqp_url(), prefix, &["pg-blog"]).await;
}

#[tokio::test]
async fn a_receiver_and_a_worker_write_one_history_in_postgres() {
    if rabbitmq_missing() || postgres_missing() {
        return;
    }
    let (prefix, table) = own_names();
    let site = BigScoots::start(APP_PASSWORD).await;
    let toml = config(&site, &table, "7d");
    let receiver = spawn(&toml, Role::Receiver, &prefix).await;
    let worker = spawn(&toml, Role::Worker, &prefix).await;

    let response = receiver
        .wordpress(&post_event("post.published", 42, "post"))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let answer: Value = response.json().await.unwrap();
    let job = answer["jobs"][0].as_str().unwrap().to_string();
    let found = eventually(
        WAIT,
        "the worker's call in the receiver's answer",
        || async {
            let found = history(&receiver, &format!("job={job}")).await;
            found.iter().any(|r| r["kind"] == "call").then_some(found)
        },
    )
    .await;
    let kinds: Vec<&str> = found.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["call", "job", "event"], "{found:#?}");
    assert_eq!(found[0]["outcome"], "ok");
    assert_eq!(found[0]["target"], "pg-blog");
    assert_eq!(found[1]["rule"], "published");
    assert_eq!(found[2]["source"], "wp");
    assert_eq!(site.requests().await.len(), 1);
    // The event and its job share a row; the call has its own.
    assert_eq!(rows(&table).await, 2);
    worker.stop().await;
    receiver.stop().await;
    clean_up(&prefix, &table).await;
}

#[tokio::test]
async fn retention_deletes_old_rows_in_postgres() {
    if rabbitmq_missing() || postgres_missing() {
        return;
    }
    let (prefix, table) = own_names();
    let site = BigScoots::start(APP_PASSWORD).await;
    let app = spawn(&config(&site, &table, "1s"), Role::Serve, &prefix).await;
    let response = app
        .wordpress(&post_event("post.published", 7, "post"))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    eventually(WAIT, "rows written", || async {
        (count_rows(&table).await? > 0).then_some(())
    })
    .await;
    eventually(WAIT, "every row deleted", || async {
        (rows(&table).await == 0).then_some(())
    })
    .await;
    app.stop().await;
    clean_up(&prefix, &table).await;
}

#[tokio::test]
async fn the_purge_and_history_commands_use_postgres_directly() {
    if rabbitmq_missing() || postgres_missing() {
        return;
    }
    let (prefix, table) = own_names();
    let site = BigScoots::start(APP_PASSWORD).await;
    let toml = config(&site, &table, "7d");
    let worker = spawn(&toml, Role::Worker, &prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("purgehook.toml");
    std::fs::write(&config_file, &toml).unwrap();
    let env = [
        ("PURGEHOOK__QUEUE__BACKEND", "amqp".to_string()),
        ("PURGEHOOK__QUEUE__URL", amqp_url()),
        ("PURGEHOOK__QUEUE__PREFIX", prefix.clone()),
    ];

    let output = purgehook(
        &["purge", "--target", "pg-blog", "--post-id", "9"],
        &config_file,
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let job = printed
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("a job id in {printed:?}"))
        .to_string();
    let found: Vec<Value> = eventually(WAIT, "the worker's call, read by the command", || async {
        let output = purgehook(&["history", "--job", &job, "--json"], &config_file, &env);
        assert!(output.status.success(), "{}", stderr(&output));
        let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        found.iter().any(|r| r["kind"] == "call").then_some(found)
    })
    .await;
    let kinds: Vec<&str> = found.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["call", "job"], "{found:#?}");
    assert_eq!(found[0]["outcome"], "ok");
    assert_eq!(found[1]["source"], "cli");
    assert_eq!(found[1]["target"], "pg-blog");
    assert_eq!(site.requests().await.len(), 1);
    let table_out = stdout(&purgehook(
        &["history", "--target", "pg-blog"],
        &config_file,
        &env,
    ));
    assert!(
        table_out.starts_with("TIME") && table_out.contains(&job),
        "{table_out}"
    );
    assert_eq!(rows(&table).await, 2);
    worker.stop().await;
    clean_up(&prefix, &table).await;
}
