//! What an operator sees in `/metrics`: latency histograms (provider calls
//! by target and outcome, publishing by backend, event to call by target),
//! dead letters per target, the queue's readiness, and each target's
//! series registered at zero before anything happened.

use std::time::Duration;

use serde_json::json;

use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "metrics-operator-token";

/// The metric line starting with `name{` whose labels include every one
/// of `labels`, as its value.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn latencies_dead_letters_and_readiness_are_in_the_metrics() {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(1, 503).await;
    // Target names of this test only: the registry is the process's.
    let config = format!(
        "{}{}[targets.latency_idle]\nprovider = \"log\"\n\n[server]\napi_tokens = [\"{TOKEN}\"]\n\n[worker]\nwindow = \"10ms\"\nmax_attempts = 1\n",
        sources(),
        site.target("latency_probe", APP_PASSWORD, "")
    );
    let app = spawn_app(&config).await;

    let before = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        sample(
            &before,
            "purgehook_dead_letters_total",
            &["target=\"latency_idle\""]
        ),
        Some(0.0),
        "registered at zero: {before}"
    );
    assert_eq!(
        sample(
            &before,
            "purgehook_provider_calls_total",
            &["target=\"latency_idle\"", "outcome=\"ok\""]
        ),
        Some(0.0)
    );
    assert_eq!(sample(&before, "purgehook_queue_ready", &[]), Some(1.0));

    // The first purge fails once and, with one attempt, is dead-lettered;
    // the second goes through.
    for post in [1, 2] {
        let response = app
            .client
            .post(format!("{}/api/v1/purge", app.address))
            .bearer_auth(TOKEN)
            .json(&json!({"target": "latency_probe", "kind": "post_ids", "post_ids": [post]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        eventually(WAIT, "the call", || async {
            (site.requests().await.len() == post).then_some(())
        })
        .await;
    }
    let probe = "target=\"latency_probe\"";
    let text = eventually(WAIT, "both calls in the metrics", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        let ok = sample(
            &text,
            "purgehook_provider_call_duration_seconds_count",
            &[probe, "outcome=\"ok\""],
        );
        let dead = sample(
            &text,
            "purgehook_provider_call_duration_seconds_count",
            &[probe, "outcome=\"dead\""],
        );
        (ok == Some(1.0) && dead == Some(1.0)).then_some(text)
    })
    .await;
    assert!(
        text.contains("purgehook_provider_call_duration_seconds_bucket{"),
        "a Prometheus histogram, not a summary: {text}"
    );
    assert_eq!(
        sample(&text, "purgehook_dead_letters_total", &[probe]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "purgehook_event_to_call_seconds_count", &[probe]),
        Some(2.0)
    );
    assert!(
        sample(
            &text,
            "purgehook_event_to_call_seconds_bucket",
            &[probe, "le=\"+Inf\""]
        ) == Some(2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "purgehook_publish_duration_seconds_count",
            &["backend=\"embedded\""]
        )
        .is_some_and(|count| count >= 2.0),
        "{text}"
    );
    app.stop().await;
}
