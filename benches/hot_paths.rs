//! Criterion benchmarks of the per-event hot paths: verifying a signed
//! delivery with every scheme (`Source::verify`: signature, then parsing
//! the body into an event), routing one event through 50 rules, the whole
//! ingest of a push routed on `payload.after` (and its body's parsing
//! alone), merging 10,000 pending jobs, and a job's encoding and decoding.
//!
//! `cargo bench --bench hot_paths`; figures in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use purgehook::action::Action;
use purgehook::app::Prepared;
use purgehook::job::{EventRef, Job, TargetId};
use purgehook::source::{Event, Inbound, Received, Source};
use purgehook::template::Payload;
use purgehook::worker::coalesce::coalesce;

/// The real 8.8 KB GitHub push most figures are measured with.
const PUSH: &[u8] = include_bytes!("../tests/fixtures/github/push-with-new-branch.payload.json");
/// A WordPress-sized event for the senders that do not send GitHub pushes.
const POST: &[u8] = br#"{"type":"post.published","timestamp":"2026-11-23T20:31:00Z","data":{"post":{"ID":42,"post_type":"post","post_name":"hello-world","post_title":"Hello world","post_status":"publish","guid":"https://site.example/?p=42"}}}"#;
const CONTENTFUL_SECRET: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Every scheme, with the body it is benchmarked with: `[sources.<id>]`.
const SOURCES: &[(&str, &str, &[u8])] = &[
    ("github", r#"kind = "github""#, PUSH),
    ("standard", r#"kind = "standard""#, POST),
    ("wp-webhooks", r#"kind = "wp-webhooks""#, POST),
    ("woocommerce", r#"kind = "woocommerce""#, POST),
    (
        "contentful",
        r#"kind = "contentful""#,
        POST,
    ),
    (
        "hmac-shopify",
        r#"kind = "hmac"
header = "X-Shopify-Hmac-Sha256"
algorithm = "sha256"
encoding = "base64"
event = "{{ headers['x-shopify-topic'] or 'products/update' }}""#,
        POST,
    ),
    (
        "hmac-sanity",
        r#"kind = "hmac"
header = "sanity-webhook-signature"
algorithm = "sha256"
encoding = "base64url"
format = "t={t},v1={signature}"
signed = "{t}.{body}"
timestamp_unit = "ms"
event = "{{ headers['sanity-operation'] or 'sanity' }}""#,
        POST,
    ),
    (
        "hmac-storyblok-sha1",
        r#"kind = "hmac"
header = "webhook-signature"
algorithm = "sha1"
encoding = "hex"
event = "{{ payload.type or 'storyblok' }}""#,
        POST,
    ),
    (
        "hmac-sha512",
        r#"kind = "hmac"
header = "X-Signature"
algorithm = "sha512"
encoding = "hex"
event = "{{ payload.type }}""#,
        POST,
    ),
    (
        "token-header",
        r#"kind = "token"
header = "Authorization"
prefix = "Bearer "
event = "{{ payload.type }}""#,
        POST,
    ),
    (
        "token-field",
        r#"kind = "token"
field = "secret"
event = "{{ payload.type }}""#,
        br#"{"type":"post.published","secret":"s3cr3t-token-for-the-bench","data":{"post":{"ID":42}}}"#,
    ),
];

/// The configuration: every source above, one `log` target, and `rules`.
fn config(rules: &str) -> Prepared {
    let mut text = String::from("[targets.site]\nprovider = \"log\"\n");
    for (id, options, _) in SOURCES {
        let secret = match *id {
            "contentful" => CONTENTFUL_SECRET,
            "standard" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "token-field" => "s3cr3t-token-for-the-bench",
            _ => "s3cr3t-for-the-bench",
        };
        text.push_str(&format!(
            "[sources.{id}]\n{options}\nsecrets = [\"{secret}\"]\n"
        ));
    }
    text.push_str(rules);
    let loaded = purgehook::config::from_toml(&text, Path::new("bench.toml"), Vec::new())
        .expect("valid TOML");
    Prepared::new(loaded).expect("a valid configuration")
}

/// `body` signed for `source` as its sender would send it.
fn signed(source: &Source, body: &[u8]) -> Inbound {
    let signed = source
        .sign(body, None, SystemTime::now())
        .expect("the source signs");
    let query: BTreeMap<String, String> = signed.query.into_iter().collect();
    let path = match serde_urlencoded::to_string(&query).expect("a query") {
        q if q.is_empty() => format!("/hooks/{}", source.id()),
        q => format!("/hooks/{}?{q}", source.id()),
    };
    Inbound {
        headers: signed
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        query,
        path,
        body: body.to_vec(),
    }
}

fn event(received: Received<Event>) -> Event {
    match received {
        Received::Event(event) => event,
        Received::Ping { event_type } => panic!("a ping ({event_type}), not an event"),
    }
}

fn bench_verify(c: &mut Criterion) {
    let prepared = config("");
    let mut group = c.benchmark_group("verify");
    for (id, _, body) in SOURCES {
        let source = &prepared.sources[*id];
        let inbound = signed(source, body);
        event(
            source
                .verify(&inbound, SystemTime::now())
                .expect("verified"),
        );
        group.bench_function(format!("{id} ({} B)", body.len()), |b| {
            b.iter(|| source.verify(black_box(&inbound), SystemTime::now()))
        });
    }
    group.finish();
}

/// 50 rules on the GitHub source: 48 that do not apply to a push to the
/// default branch (other events, other branches) and 2 that make jobs.
fn fifty_rules() -> String {
    let mut rules = String::new();
    for i in 0..48 {
        let (event, when) = match i % 3 {
            0 => ("pull_request", "payload.action == 'closed'".to_string()),
            1 => ("release", format!("payload.release.tag_name == 'v{i}'")),
            _ => ("push", format!("payload.ref == 'refs/heads/branch-{i}'")),
        };
        rules.push_str(&format!(
            "[[rules]]\nname = \"rule {i}\"\nsource = \"github\"\nevent = \"{event}\"\n\
             when = \"{when}\"\n[[rules.actions]]\ntarget = \"site\"\n\
             urls = [\"https://site.example/{i}/{{{{ payload.repository.name }}}}/\"]\n"
        ));
    }
    rules.push_str(
        r#"[[rules]]
name = "markdown pages"
source = "github"
event = "push"
when = "payload.ref == 'refs/heads/' ~ payload.repository.default_branch"
[[rules.actions]]
target = "site"
urls = ['''{{ payload | changed_files | select('matching', '\\.md$')
            | map('regex_replace', '^(content/)?(.*)\\.md$', 'https://site.example/$2/') | list }}''']
[[rules]]
name = "the repository's tag"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
tags = ["repo-{{ payload.repository.id }}", "{{ payload.pusher.name }}"]
"#,
    );
    rules
}

fn bench_route(c: &mut Criterion) {
    let prepared = config(&fifty_rules());
    assert_eq!(prepared.rules.len(), 50);
    let source = &prepared.sources["github"];
    let push = event(
        source
            .verify(&signed(source, PUSH), SystemTime::now())
            .expect("verified"),
    );
    let routed = prepared.rules.route(&push).expect("routed");
    assert_eq!(routed.matched_rules.len(), 2, "{:?}", routed.matched_rules);
    c.bench_function("route a push through 50 rules", |b| {
        b.iter(|| prepared.rules.route(black_box(&push)))
    });
}

/// The ingest path of issue 13: the signed push verified and normalized by
/// the GitHub source, then routed by one rule that reads `payload.after`.
fn bench_ingest(c: &mut Criterion) {
    let prepared = config(
        r#"[[rules]]
name = "the pushed commit"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
tags = ["commit-{{ payload.after }}"]
"#,
    );
    let source = &prepared.sources["github"];
    let inbound = signed(source, PUSH);
    let ingest = |inbound: &Inbound| {
        let push = event(source.verify(inbound, SystemTime::now()).expect("verified"));
        prepared.rules.route(&push).expect("routed")
    };
    assert_eq!(ingest(&inbound).jobs.len(), 1);
    c.bench_function(
        "ingest a push: verify, normalize, route on payload.after",
        |b| b.iter(|| ingest(black_box(&inbound))),
    );
}

/// The push's body: parsed whole as before issue 13, checked as a
/// [`Payload`], and checked then read for `payload.after`.
fn bench_payload(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload (8.8 KB push)");
    group.bench_function("serde_json::Value, parsed and dropped", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(PUSH)))
    });
    group.bench_function("Payload::parse", |b| {
        b.iter(|| Payload::parse(black_box(PUSH)))
    });
    group.bench_function("Payload::parse, then payload.after", |b| {
        b.iter(|| {
            let payload = Payload::parse(black_box(PUSH)).expect("JSON");
            payload
                .template_value()
                .get_attr("after")
                .expect("a string")
        })
    });
    group.finish();
}

fn pending(count: usize) -> Vec<Action> {
    (0..count)
        .map(|i| match i % 4 {
            0 => Action::Urls {
                urls: vec![format!("https://a.example/p{}", i % 3000)],
            },
            1 => Action::PostIds {
                post_ids: vec![(i % 5000) as u64 + 1],
                related: i % 3 == 0,
            },
            2 => Action::Tags {
                tags: vec![format!("t{}", i % 500)],
            },
            _ => Action::Prefixes {
                prefixes: vec![format!("https://a.example/d{}/", i % 200)],
            },
        })
        .collect()
}

fn bench_coalesce(c: &mut Criterion) {
    let prepared = config("");
    let capabilities = prepared.capabilities();
    let capabilities = &capabilities[&TargetId::new("site").expect("an id")];
    let jobs = pending(10_000);
    c.bench_function("coalesce 10,000 jobs", |b| {
        b.iter(|| coalesce(black_box(&jobs), capabilities))
    });
}

fn bench_job_codec(c: &mut Criterion) {
    let job = Job::new(
        TargetId::new("site").expect("an id"),
        Action::Urls {
            urls: vec![
                "https://site.example/blog/hello-world/".into(),
                "https://site.example/blog/".into(),
            ],
        },
        Some(EventRef {
            source: "github".into(),
            event_type: "push".into(),
            delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958".into()),
        }),
    );
    let bytes = job.to_bytes().expect("encoded");
    c.bench_function(&format!("job encode ({} B)", bytes.len()), |b| {
        b.iter(|| black_box(&job).to_bytes())
    });
    c.bench_function(&format!("job decode ({} B)", bytes.len()), |b| {
        b.iter(|| Job::from_bytes(black_box(&bytes)))
    });
}

criterion_group!(
    benches,
    bench_verify,
    bench_route,
    bench_ingest,
    bench_payload,
    bench_coalesce,
    bench_job_codec
);
criterion_main!(benches);
