//! Every kind of bad input, one test each: a clear answer in DESIGN.md's JSON
//! shape (4xx for what is refused, 200 for what no rule wants), nothing
//! queued, nothing sent to the provider, and the service still answering.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::blog_rules;
use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;

/// The body limit of [`blog_app`].
const LIMIT: usize = 16_384;

/// The blog rules with a 16 KiB body limit, and the site they purge.
async fn blog_app() -> (TestApp, BigScoots) {
    let site = BigScoots::start(APP_PASSWORD).await;
    let config = format!(
        "{}{}[server]\nmax_body_bytes = {LIMIT}\n{}",
        sources(),
        site.target("blog", APP_PASSWORD, ""),
        blog_rules()
    );
    (spawn_app(&config).await, site)
}

/// Asserts that nothing was queued and the provider was not called, and that
/// the service still answers; then stops it. No wait is needed: a job is
/// queued before the answer, and counted as pending until it is acked,
/// which is after its provider call; so once the pending count is 0, a job
/// that was queued has already reached the site.
async fn nothing_was_queued(app: TestApp, site: &BigScoots) {
    assert_eq!(app.queue.pending_jobs("blog"), Some(0));
    assert!(site.requests().await.is_empty(), "the provider was called");
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop().await;
}

/// An error answer: status, `error` code and `message`.
#[derive(Debug)]
struct Refusal {
    status: u16,
    error: String,
    message: String,
}

fn refusal(status: u16, text: &str) -> Refusal {
    let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    Refusal {
        status,
        error: body["error"].as_str().unwrap_or_default().to_string(),
        message: body["message"].as_str().unwrap_or_default().to_string(),
    }
}

async fn refusal_of(response: reqwest::Response) -> Refusal {
    let status = response.status().as_u16();
    refusal(status, &response.text().await.unwrap())
}

#[tokio::test]
async fn an_unknown_source_is_404_and_queues_nothing() {
    let (app, site) = blog_app().await;
    let refused = refusal_of(app.post_hook("gitlab", &[], b"{}").await).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (404, "unknown_source")
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_delivery_without_a_signature_is_401_naming_the_missing_header() {
    let (app, site) = blog_app().await;
    let unsigned = [("X-GitHub-Event".to_string(), "push".to_string())];
    let refused = refusal_of(app.post_hook("github", &unsigned, PUSH_NEW_BRANCH).await).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (401, "bad_signature")
    );
    assert_eq!(refused.message, "missing X-Hub-Signature-256 header");
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_forged_github_signature_is_401() {
    let (app, site) = blog_app().await;
    let mut forged = github_headers("push", PUSH_NEW_BRANCH);
    forged[3].1 = format!("sha256={}", "0".repeat(64));
    let refused = refusal_of(app.post_hook("github", &forged, PUSH_NEW_BRANCH).await).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (401, "bad_signature")
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_body_changed_after_standard_webhooks_signed_it_is_401() {
    let (app, site) = blog_app().await;
    let post = post_event("post.published", 42, "post");
    let mut tampered = post.clone();
    tampered.extend_from_slice(b" ");
    let response = app
        .post_hook("wp", &standard_headers(&post), &tampered)
        .await;
    let refused = refusal_of(response).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (401, "bad_signature")
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_400() {
    let (app, site) = blog_app().await;
    let refused = refusal_of(app.github("push", b"{\"ref\": ").await).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (400, "bad_request")
    );
    assert!(refused.message.contains("not valid JSON"), "{refused:?}");
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_413() {
    let (app, site) = blog_app().await;
    let big = vec![b' '; 20_000];
    let refused = refusal_of(app.github("push", &big).await).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (413, "body_too_large")
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_body_streamed_over_the_limit_is_413_before_it_ends() {
    let (app, site) = blog_app().await;
    // 17 chunks of 1 KiB, signed as a whole; sent chunked, without a
    // Content-Length and without the last (empty) chunk, so the answer
    // comes from a receiver that counted the bytes as they came.
    let chunks = vec![vec![b' '; 1_024]; LIMIT / 1_024 + 1];
    let headers = github_headers("push", &chunks.concat());
    let refused = post_chunked(&app.address, "/hooks/github", &headers, &chunks).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (413, "body_too_large")
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn a_ping_is_200_and_queues_nothing() {
    let (app, site) = blog_app().await;
    assert_eq!(app.github("ping", PING).await.status(), 200);
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn an_event_no_rule_wants_is_200_saying_so() {
    let (app, site) = blog_app().await;
    let response = app.github("issues", b"{\"action\":\"opened\"}").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("no rule wants event \"issues\""),
        "{message}"
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn an_event_whose_rule_condition_is_false_is_200() {
    let (app, site) = blog_app().await;
    let attachment = post_event("post.published", 42, "attachment");
    assert_eq!(app.wordpress(&attachment).await.status(), 200);
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn data_a_rule_cannot_turn_into_a_purge_is_422_naming_the_rule_and_the_value() {
    let (app, site) = blog_app().await;
    let bad_id = serde_json::to_vec(&json!({"type": "post.published",
        "data": {"post": {"ID": "forty-two", "post_type": "post"}}}))
    .unwrap();
    let refused = refusal_of(app.wordpress(&bad_id).await).await;
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (422, "unprocessable_event")
    );
    assert!(
        refused.message.contains("published post") && refused.message.contains("forty-two"),
        "{refused:?}"
    );
    nothing_was_queued(app, &site).await;
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let (app, site) = blog_app().await;
    assert_eq!(refusal_of(app.get("/nope").await).await.status, 404);
    nothing_was_queued(app, &site).await;
}

/// POSTs `chunks` to `path` over a plain TCP connection with
/// `Transfer-Encoding: chunked`, one write per chunk, and never sends the
/// terminating empty chunk; reads the answer the server gives meanwhile.
async fn post_chunked(
    address: &str,
    path: &str,
    headers: &[(String, String)],
    chunks: &[Vec<u8>],
) -> Refusal {
    let authority = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).await.expect("connects");
    stream.set_nodelay(true).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break; // The server answered and closed already.
        }
    }
    let wait = Duration::from_secs(10);
    tokio::time::timeout(wait, read_response(&mut stream))
        .await
        .expect("an answer before the body ends")
}

/// Reads one HTTP/1.1 response with a `Content-Length`.
async fn read_response(stream: &mut TcpStream) -> Refusal {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4_096];
    loop {
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("a Content-Length");
            if body.len() >= length {
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
                return refusal(status.expect("a status line"), &body[..length]);
            }
        }
        let read = stream.read(&mut buffer).await.expect("readable");
        assert!(read > 0, "connection closed mid-answer: {text}");
        received.extend_from_slice(&buffer[..read]);
    }
}
