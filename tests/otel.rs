//! Traces (`cargo test --features otel --test otel`): one trace from a
//! signed webhook at the receiver, through RabbitMQ, to the worker's job,
//! batch and provider call; a producer's own trace continued from the
//! `traceparent` header of the message it published; and the OTLP/HTTP
//! exporter sending spans to a local collector.

#![cfg(feature = "otel")]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use purgehook::app::Role;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use helpers::*;

const WAIT: Duration = Duration::from_secs(20);

/// An in-process collector: the spans the SDK exported, kept in memory.
#[derive(Debug, Clone, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Collected {
    fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }
}

/// The process's subscriber: every span exported at once to the
/// collector (installed once for the whole test binary).
fn collector() -> Collected {
    static COLLECTED: OnceLock<Collected> = OnceLock::new();
    COLLECTED
        .get_or_init(|| {
            let collected = Collected::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(collected.clone())
                .build();
            tracing_subscriber::registry()
                .with(purgehook::telemetry::trace::layer(&provider))
                .init();
            // Kept for the process: dropping it would stop the export.
            std::mem::forget(provider);
            collected
        })
        .clone()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The spans named `name` whose `target_id` attribute is `target`.
fn named(spans: &[SpanData], name: &str, target: &str) -> Vec<SpanData> {
    spans
        .iter()
        .filter(|s| s.name == name && attribute(s, "target_id").as_deref() == Some(target))
        .cloned()
        .collect()
}

fn config(target: &str) -> String {
    format!(
        r#"{}
[targets.{target}]
provider = "log"
window = "20ms"

[[rules]]
name = "published post"
source = "wp"
[[rules.actions]]
target = "{target}"
post_ids = ["{{{{ payload.data.post.ID }}}}"]
"#,
        sources()
    )
}

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn overrides(prefix: &str) -> Vec<(String, String)> {
    vec![
        ("PURGEHOOK__QUEUE__BACKEND".into(), "amqp".into()),
        ("PURGEHOOK__QUEUE__URL".into(), amqp_url()),
        ("PURGEHOOK__QUEUE__PREFIX".into(), prefix.into()),
    ]
}

async fn clean_up(prefix: &str, target: &str) {
    helpers::delete_amqp_topology(amqp_url(), prefix, &[target]).await;
}

/// The spans of `target` once its provider call is exported.
async fn spans_through_the_call(collected: &Collected, target: &str) -> Vec<SpanData> {
    eventually(WAIT, "the provider call's span", || async {
        let spans = collected.spans();
        (!named(&spans, "provider call", target).is_empty()).then_some(spans)
    })
    .await
}

#[tokio::test]
async fn one_trace_spans_receiver_broker_and_worker() {
    let collected = collector();
    let target = "traced";
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let dir = || tempfile::tempdir().unwrap();
    let receiver = spawn_role(&config(target), Role::Receiver, overrides(&prefix), dir()).await;
    let worker = spawn_role(&config(target), Role::Worker, overrides(&prefix), dir()).await;

    let response = receiver
        .wordpress(&post_event("post.published", 7, "post"))
        .await;
    assert_eq!(response.status(), 202);
    // The job and batch spans end when the batch is settled, after the call.
    let spans = eventually(WAIT, "the batch's spans", || async {
        let spans = spans_through_the_call(&collected, target).await;
        (!named(&spans, "batch", target).is_empty()).then_some(spans)
    })
    .await;

    let event = spans
        .iter()
        .find(|s| s.name == "event" && attribute(s, "source").as_deref() == Some("wp"))
        .expect("the receiver's event span");
    let job = &named(&spans, "job", target)[0];
    let batch = &named(&spans, "batch", target)[0];
    let call = &named(&spans, "provider call", target)[0];
    let trace = event.span_context.trace_id();
    for span in [job, batch, call] {
        assert_eq!(span.span_context.trace_id(), trace, "{}", span.name);
    }
    assert_eq!(
        job.parent_span_id,
        event.span_context.span_id(),
        "the job's span continues the event's, from the message's headers"
    );
    assert!(job.parent_span_is_remote);
    assert_eq!(batch.parent_span_id, job.span_context.span_id());
    assert_eq!(call.parent_span_id, batch.span_context.span_id());
    assert_eq!(attribute(call, "kind").as_deref(), Some("post_ids"));

    worker.stop().await;
    receiver.stop().await;
    clean_up(&prefix, target).await;
}

#[tokio::test]
async fn a_producers_trace_goes_on_from_its_messages_traceparent() {
    let collected = collector();
    let target = "produced";
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let worker = spawn_role(
        &config(target),
        Role::Worker,
        overrides(&prefix),
        tempfile::tempdir().unwrap(),
    )
    .await;

    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let job = json!({"v": 1, "id": uuid::Uuid::now_v7(), "target": target,
        "action": {"kind": "urls", "urls": ["https://www.example.com/"]},
        "created_at": "2026-11-24T00:00:00Z"});
    let mut headers = FieldTable::default();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(traceparent.into()),
    );
    channel
        .basic_publish(
            format!("{prefix}.jobs").as_str().into(),
            target.into(),
            BasicPublishOptions::default(),
            job.to_string().as_bytes(),
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let spans = eventually(WAIT, "the job's span", || async {
        let spans = spans_through_the_call(&collected, target).await;
        (!named(&spans, "job", target).is_empty()).then_some(spans)
    })
    .await;
    let job = &named(&spans, "job", target)[0];
    assert_eq!(
        job.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(job.parent_span_id.to_string(), "00f067aa0ba902b7");
    let call = &named(&spans, "provider call", target)[0];
    assert_eq!(call.span_context.trace_id(), job.span_context.trace_id());

    connection.close(0, "done".into()).await.unwrap();
    worker.stop().await;
    clean_up(&prefix, target).await;
}

#[test]
fn spans_are_exported_over_otlp_http_to_a_collector() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let collector = runtime.block_on(wiremock::MockServer::start());
    runtime.block_on(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path("/v1/traces"))
            .respond_with(wiremock::ResponseTemplate::new(200))
            .mount(&collector),
    );
    let endpoint = format!("{}/v1/traces", collector.uri());
    let provider = purgehook::telemetry::trace::otlp_provider(Some(&endpoint)).unwrap();
    let mut span = provider.tracer("test").start("verify purge");
    span.end();
    provider.force_flush().unwrap();

    let requests = runtime.block_on(collector.received_requests()).unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let content_type = request.headers.get("content-type").unwrap();
    assert_eq!(content_type, "application/x-protobuf");
    // Protobuf keeps strings as they are: the span's and the service's names.
    let body = String::from_utf8_lossy(&request.body);
    assert!(body.contains("verify purge"), "{body:?}");
    assert!(body.contains("purgehook"), "{body:?}");
    provider.shutdown().unwrap();
}
