//! De-duplication of deliveries sent again (a sender's retry, an attacker's
//! replay): the same delivery — same delivery id and body — is queued once
//! within the window, and answered 200 saying so after that. On the
//! embedded store it survives a restart; receivers on RabbitMQ share it
//! through Redis.

use purgehook::app::Role;
use serde_json::Value;

use crate::helpers::*;
use crate::services::amqp_url;

const CONFIG_RULES: &str = r#"
[targets.notes]
provider = "log"
window = "60s"

[[rules]]
name = "everything"
source = "wp"
[[rules.actions]]
target = "notes"
everything = true

[[rules]]
name = "pushes"
source = "github"
[[rules.actions]]
target = "notes"
everything = true
"#;

fn config() -> String {
    format!("{}{CONFIG_RULES}", sources())
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_delivery_sent_ten_times_is_queued_once() {
    let app = spawn_app(&config()).await;
    let body = post_event("post.published", 42, "post");
    let headers = standard_headers(&body);
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(json(app.post_hook("wp", &headers, &body).await).await);
    }
    assert_eq!(answers[0].0, 202);
    assert_eq!(answers[0].1["jobs"].as_array().unwrap().len(), 1);
    for (status, answer) in &answers[1..] {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["duplicate"], Value::Bool(true));
        assert_eq!(answer["jobs"], serde_json::json!([]));
    }
    // The target's window holds what was queued: one job.
    assert_eq!(app.queue.pending_jobs("notes"), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn the_same_delivery_id_with_another_body_is_another_delivery() {
    let app = spawn_app(&config()).await;
    let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let send = |body: &'static [u8], event: &str| {
        let headers = github_delivery(event, body, id);
        let app = &app;
        async move { json(app.post_hook("github", &headers, body).await).await }
    };
    assert_eq!(send(PUSH_NEW_BRANCH, "push").await.0, 202);
    let (status, again) = send(PUSH_NEW_BRANCH, "push").await;
    assert_eq!((status, &again["duplicate"]), (200, &Value::Bool(true)));
    // A replay with another (unsigned) event header is the same delivery.
    let (status, replay) = send(PUSH_NEW_BRANCH, "release").await;
    assert_eq!((status, &replay["duplicate"]), (200, &Value::Bool(true)));
    let other: &[u8] = br#"{"ref": "refs/heads/other", "commits": []}"#;
    assert_eq!(send(other, "push").await.0, 202);
    app.stop().await;
}

#[tokio::test]
async fn what_the_embedded_store_remembers_survives_a_restart() {
    let body = post_event("post.published", 7, "post");
    let headers = standard_headers(&body);
    let app = spawn_app(&config()).await;
    assert_eq!(app.post_hook("wp", &headers, &body).await.status(), 202);
    let dir = app.stop().await;

    let app = spawn_app_in(&config(), dir).await;
    let (status, answer) = json(app.post_hook("wp", &headers, &body).await).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], Value::Bool(true));
    app.stop().await;
}

#[tokio::test]
async fn a_window_of_zero_turns_it_off() {
    let config = format!("{}[dedupe]\nwindow = \"0s\"\n", config());
    let app = spawn_app(&config).await;
    let body = post_event("post.published", 9, "post");
    let headers = standard_headers(&body);
    for _ in 0..2 {
        assert_eq!(app.post_hook("wp", &headers, &body).await.status(), 202);
    }
    app.stop().await;
}

#[tokio::test]
async fn receivers_on_rabbitmq_share_what_they_remember_through_redis() {
    if crate::services::rabbitmq_missing() || crate::services::redis_missing() {
        return;
    }
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let overrides = || {
        vec![
            ("PURGEHOOK__QUEUE__BACKEND".to_string(), "amqp".to_string()),
            ("PURGEHOOK__QUEUE__URL".to_string(), amqp_url()),
            ("PURGEHOOK__QUEUE__PREFIX".to_string(), prefix.clone()),
            (
                "PURGEHOOK__DEDUPE__REDIS_URL".to_string(),
                crate::services::redis_url(),
            ),
        ]
    };
    let dir = || tempfile::tempdir().unwrap();
    let one = spawn_role(&config(), Role::Receiver, overrides(), dir()).await;
    let two = spawn_role(&config(), Role::Receiver, overrides(), dir()).await;
    let body = post_event("post.published", 11, "post");
    let headers = standard_headers(&body);
    assert_eq!(one.post_hook("wp", &headers, &body).await.status(), 202);
    let (status, answer) = json(two.post_hook("wp", &headers, &body).await).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], Value::Bool(true));
    if let purgehook::queue::Queue::Amqp(queue) = &one.queue {
        queue.delete_topology(&[tid("notes")]).await.unwrap();
    }
    one.stop().await;
    two.stop().await;
}
