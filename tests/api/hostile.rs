//! Hostile input: malformed JSON, every kind of bad signature, stale and
//! future timestamps, path tricks, header floods and unknown names. Each
//! gets a clean 4xx (never a 5xx, never a crash), nothing is queued, and
//! what the answers, the metrics and the logs keep of it stays bounded.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::*;

const RULES: &str = r#"
[targets.site]
provider = "log"

[[rules]]
name = "pushes"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
everything = true

[[rules]]
name = "posts"
source = "wp"
event = "post.*"
[[rules.actions]]
target = "site"
everything = true
"#;

async fn app() -> TestApp {
    spawn_app(&format!("{}{RULES}", sources())).await
}

/// The status and error code of an answer, after checking its shape.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(body["message"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap_or("").to_string())
}

/// Sends `request` as raw bytes and returns the answer's status (0 when the
/// server closed the connection without one) and its whole text.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    let _ = read.await.expect("the server answers or closes in time");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn raw_post(path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra_headers}Content-Length: 2\r\n\r\n{{}}"
    )
    .into_bytes()
}

async fn assert_nothing_queued(app: &TestApp) {
    assert_eq!(app.queue.pending_jobs("site"), Some(0), "nothing is queued");
}

#[tokio::test]
async fn malformed_json_is_a_400_even_when_signed() {
    let app = app().await;
    let deep = "[".repeat(100_000);
    let bodies: [&[u8]; 6] = [
        b"{\"ref\": \"refs/heads/main\"",
        b"{\"ref\": \"refs/heads/main\", \"commits\": [",
        deep.as_bytes(),
        b"",
        b"\xff\xfe{}",
        b"{\"a\": 1} trailing",
    ];
    for body in bodies {
        let (status, code) = refusal(app.github("push", body).await).await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
        assert_eq!(status, 400, "{shown}");
        assert_eq!(code, "bad_request", "{shown}");
        // The reference signer takes text only.
        if std::str::from_utf8(body).is_ok() {
            let (status, _) = refusal(app.wordpress(body).await).await;
            assert_eq!(status, 400, "{shown}");
        }
    }
    let oversized = vec![b' '; 1024 * 1024 + 1];
    let (status, code) = refusal(app.github("push", &oversized).await).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    assert_nothing_queued(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn every_github_signature_malformation_is_a_401() {
    let app = app().await;
    let body = PUSH_NEW_BRANCH;
    let good = github_headers("push", body)[3].1.clone();
    let other = github_headers("push", b"{\"another\": \"body\"}")[3]
        .1
        .clone();
    let hex = good.trim_start_matches("sha256=");
    let signatures = [
        None,
        Some(String::new()),
        Some("sha256=".into()),
        Some(format!("sha1={hex}")),
        Some(format!("SHA256={hex}")),
        Some(hex.to_string()),
        Some(format!("sha256={}", &hex[..62])),
        Some(format!("sha256={hex}00")),
        Some(format!("sha256={}zz", &hex[..62])),
        Some(format!("{good},{good}")),
        Some(other),
    ];
    for signature in signatures {
        let mut headers = github_headers("push", body);
        headers.truncate(3);
        if let Some(signature) = &signature {
            headers.push(("X-Hub-Signature-256".into(), signature.clone()));
        }
        let (status, code) = refusal(app.post_hook("github", &headers, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "bad_signature"),
            "{signature:?}"
        );
    }
    // Two signature headers are joined, and the pair is not a signature.
    let mut twice = github_headers("push", body);
    twice.push(("X-Hub-Signature-256".into(), good.clone()));
    let (status, _) = refusal(app.post_hook("github", &twice, body).await).await;
    assert_eq!(status, 401);
    assert_nothing_queued(&app).await;
    app.stop().await;
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Standard Webhooks headers for `body` at `timestamp`, signed with the
/// reference library, with `signature` replacing the signature when given.
fn standard_at(body: &[u8], timestamp: i64, signature: Option<&str>) -> Vec<(String, String)> {
    let signer = standardwebhooks::Webhook::new(WP_SECRET).unwrap();
    let id = "msg_hostile";
    let signed = signer.sign(id, timestamp, body).unwrap();
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        (
            "webhook-signature".into(),
            signature.map_or(signed, str::to_string),
        ),
    ]
}

#[tokio::test]
async fn standard_webhooks_signatures_and_timestamps_are_checked() {
    let app = app().await;
    let body = post_event("post.published", 1, "post");
    let now = unix_now();
    let good = standard_at(&body, now, None)[3].1.clone();
    let b64 = good.trim_start_matches("v1,");
    let cases: Vec<(Vec<(String, String)>, u16)> = vec![
        (standard_at(&body, now - 301, None), 401),
        (standard_at(&body, now + 301, None), 401),
        (standard_at(&body, 0, None), 401),
        (standard_at(&body, now, Some("")), 401),
        (standard_at(&body, now, Some(&format!("v2,{b64}"))), 401),
        (standard_at(&body, now, Some(b64)), 401),
        (standard_at(&body, now, Some("v1,not base64!")), 401),
        (
            standard_at(&body, now, Some(&format!("v1,{}", &b64[4..]))),
            401,
        ),
        (standard_at(b"{}", now, None), 401),
        (
            standard_at(&body, now, Some(&format!("v1,AAAA v1,{b64}"))),
            202,
        ),
    ];
    for (headers, expected) in cases {
        let response = app.post_hook("wp", &headers, &body).await;
        assert_eq!(response.status(), expected, "{headers:?}");
    }
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut headers = standard_at(&body, now, None);
        headers.retain(|(name, _)| name != missing);
        let (status, code) = refusal(app.post_hook("wp", &headers, &body).await).await;
        assert_eq!((status, code.as_str()), (401, "bad_signature"), "{missing}");
    }
    for timestamp in ["soon", "-1", "1e9", "99999999999999999999999"] {
        let mut headers = standard_at(&body, now, None);
        headers[2].1 = timestamp.into();
        let (status, _) = refusal(app.post_hook("wp", &headers, &body).await).await;
        assert!(matches!(status, 400 | 401), "{timestamp}: {status}");
    }
    app.stop().await;
}

#[tokio::test]
async fn path_tricks_get_a_404_that_quotes_little() {
    let app = app().await;
    let long = "n".repeat(60 * 1024);
    let paths = [
        "/hooks/../api/v1/purge".to_string(),
        "/hooks/%2e%2e/api/v1/purge".into(),
        "/hooks/github%2F..%2Fwp".into(),
        "/hooks/github%00".into(),
        "/hooks/%00".into(),
        "/hooks/gith%C3%BCb".into(),
        "/hooks/%ff%fe".into(),
        "/hooks/".into(),
        "/hooks//github".into(),
        format!("/hooks/{long}"),
    ];
    for path in &paths {
        let (status, answer) = raw(&app, &raw_post(path, "")).await;
        let shown = &path[..path.len().min(40)];
        assert!(matches!(status, 400 | 404), "{shown}: {answer}");
        assert!(answer.len() < 1024, "{shown}: the answer is short");
    }
    let (status, answer) = raw(&app, &raw_post("/hooks/a\u{1b}b", "")).await;
    assert!((400..500).contains(&status), "{answer}");
    assert_nothing_queued(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn header_floods_are_refused_without_a_5xx() {
    let app = app().await;
    let many: String = (0..500).map(|n| format!("X-Flood-{n}: {n}\r\n")).collect();
    let huge = format!("X-Huge: {}\r\n", "h".repeat(256 * 1024));
    let folded = "X-Folded: a\r\n b\r\n".to_string();
    let nul = "X-Nul: a\0b\r\n".to_string();
    for headers in [many, huge, folded, nul] {
        let (status, answer) = raw(&app, &raw_post("/hooks/github", &headers)).await;
        let first = answer.lines().next().unwrap_or("(closed)");
        assert!(status == 0 || (400..500).contains(&status), "{first}");
    }
    // A well-formed delivery still gets in.
    assert_eq!(app.github("push", PUSH_NEW_BRANCH).await.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn unknown_names_share_one_label_and_are_cut_in_answers() {
    let app = app().await;
    for n in 0..200 {
        let name = format!("intruder{n}-{}", "x".repeat(2048));
        let response = app.post_hook(&name, &[], b"{}").await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 404);
        assert!(
            text.len() < 300,
            "the answer quotes at most 64 characters: {text}"
        );
        assert!(!text.contains(&name));
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("intruder"), "no name becomes a label");
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("purgehook_webhooks_total{")
                && line.contains("source=\"unknown\"")
                && line.contains("outcome=\"unknown_source\"")),
        "{metrics}"
    );
    app.stop().await;
}
