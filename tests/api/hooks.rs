//! Signed webhooks in, the right provider calls out; what bad or unwanted
//! input gets instead is specified in [`bad_input`].

mod bad_input;

use std::time::Duration;

use serde_json::{Value, json};

use crate::fakes::bigscoots::BigScoots;
use crate::fakes::wpengine::{self, WpEngine};
use crate::fakes::{basic, json as body_json};
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

fn blog_rules() -> &'static str {
    r#"
[[rules]]
name = "content pushed"
source = "github"
event = "push"
when = "payload.ref == 'refs/heads/' ~ payload.repository.default_branch"
[[rules.actions]]
target = "blog"
urls = ['''{{ payload | changed_files | select('matching', '\\.md$')
  | map('regex_replace', '^(content/)?(.*)\\.md$', 'https://blog.example.com/$2/') | list }}''']

[[rules]]
name = "published post"
source = "wp"
event = "post.*"
when = "payload.data.post.post_type in ['post', 'page']"
[[rules.actions]]
target = "blog"
post_ids = ["{{ payload.data.post.ID }}"]
related = true
"#
}

async fn blog_app(site: &BigScoots, window: &str) -> TestApp {
    let config = format!(
        "{}{}{}",
        sources(),
        site.target("blog", APP_PASSWORD, &format!("window = \"{window}\"")),
        blog_rules()
    );
    spawn_app(&config).await
}

#[tokio::test]
async fn a_github_push_purges_the_changed_pages_at_bigscoots() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let app = blog_app(&site, "20ms").await;

    let response = app.github("push", PUSH_NEW_BRANCH).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["jobs"].as_array().unwrap().len(), 1);
    assert!(accepted["event_id"].is_string());

    let calls = eventually(WAIT, "the BigScoots call", || async {
        let calls = site.requests().await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    let call = &calls[0];
    assert_eq!(call.method.as_str(), "PATCH");
    assert_eq!(call.url.path(), "/wp-json/bigscoots-cache/v2/clear-cache");
    assert_eq!(
        call.headers.get("authorization").unwrap().to_str().unwrap(),
        basic("deploy", APP_PASSWORD),
        "the application password is sent with its spaces"
    );
    assert_eq!(
        body_json(call),
        json!({"purge_type": "urls", "urls": ["https://blog.example.com/README/"]})
    );

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("purgehook_webhooks_total{")
                && l.contains("source=\"github\"")
                && l.contains("outcome=\"accepted\"")),
        "{text}"
    );
    assert!(text.contains("purgehook_provider_calls_total{"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_wordpress_post_purges_the_post_and_its_related_pages() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let app = blog_app(&site, "20ms").await;

    let response = app
        .wordpress(&post_event("post.published", 42, "post"))
        .await;
    assert_eq!(response.status(), 202);

    let calls = eventually(WAIT, "the BigScoots call", || async {
        let calls = site.requests().await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    assert_eq!(
        body_json(&calls[0]),
        json!({"purge_type": "post_ids", "post_ids": [42], "purge_related_urls": true})
    );
    app.stop().await;
}

#[tokio::test]
async fn events_within_the_window_merge_into_one_call() {
    let site = BigScoots::start(APP_PASSWORD).await;
    // The four events reach the store within milliseconds of each other.
    let app = blog_app(&site, "500ms").await;
    for id in [7, 3, 7, 5] {
        let response = app.wordpress(&post_event("post.updated", id, "post")).await;
        assert_eq!(response.status(), 202);
    }
    let calls = eventually(WAIT, "the merged call", || async {
        let calls = site.requests().await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    // Everything is settled once the queue is empty: no second call follows.
    eventually(WAIT, "the batch to settle", || async {
        (app.queue.pending_jobs("blog") == Some(0)).then_some(())
    })
    .await;
    assert_eq!(site.requests().await.len(), 1, "one call for four events");
    assert_eq!(
        body_json(&calls[0]),
        json!({"purge_type": "post_ids", "post_ids": [3, 5, 7], "purge_related_urls": true})
    );
    app.stop().await;
}

#[tokio::test]
async fn wp_engine_gets_one_call_per_cache_type() {
    let wpe = WpEngine::start().await;
    let config = format!(
        r#"{}{}
[[rules]]
name = "theme deployed"
source = "github"
event = "push"
[[rules.actions]]
target = "shop"
scopes = ["page", "object"]
[[rules.actions]]
target = "whole"
everything = true
"#,
        sources(),
        wpe.target("shop", "shop-install", wpengine::PASSWORD)
            + &wpe.target("whole", "other-install", wpengine::PASSWORD)
    );
    let app = spawn_app(&config).await;
    assert_eq!(app.github("push", PUSH_NEW_BRANCH).await.status(), 202);
    let calls = eventually(WAIT, "three WP Engine calls", || async {
        let calls = wpe.requests().await;
        (calls.len() >= 3).then_some(calls)
    })
    .await;
    let mut seen: Vec<(String, Value)> = calls
        .iter()
        .map(|c| (c.url.path().to_string(), body_json(c)))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.to_string().cmp(&b.1.to_string())));
    assert_eq!(
        seen,
        [
            (
                "/v1/installs/other-install/purge_cache".into(),
                json!({"type": "all"})
            ),
            (
                "/v1/installs/shop-install/purge_cache".into(),
                json!({"type": "object"})
            ),
            (
                "/v1/installs/shop-install/purge_cache".into(),
                json!({"type": "page"})
            ),
        ]
    );
    app.stop().await;
}
