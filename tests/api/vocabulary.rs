//! Every purge action kind, built from the vocabulary's own description,
//! round-trips through each way in: the job wire format, the purge API and
//! a rule's action table — and reaches the provider as it was given.

use std::time::Duration;

use purgehook::action::{Action, ActionKind, Shape};
use purgehook::job::Job;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{PUSH_NEW_BRANCH, TestApp, eventually, sources, spawn_app, tid};

const TOKEN: &str = "vocabulary-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(10);

/// A value of a field's shape that every provider check accepts (the
/// `http` provider takes anything).
fn sample_value(shape: Shape) -> Value {
    match shape {
        Shape::Flag => json!(true),
        Shape::Texts => json!(["https://site.example/a/"]),
        Shape::Ids => json!([7]),
        Shape::Text => json!("clear_opcache"),
        Shape::Params => json!({"id": 7}),
    }
}

/// An action of `kind` with every field given, as JSON.
fn sample(kind: ActionKind) -> Value {
    let spec = kind.spec();
    let mut object = json!({"kind": spec.name});
    for field in spec.fields {
        object[field.name] = sample_value(field.shape);
    }
    object
}

/// The same action as a rule's `[[rules.actions]]` table (TOML).
fn rule_table(kind: ActionKind) -> String {
    let spec = kind.spec();
    let mut table = String::from("[[rules.actions]]\ntarget = \"edge\"\n");
    if spec.marker_is_flag() {
        table.push_str(&format!("{} = true\n", spec.rule_marker));
    }
    for field in spec.fields {
        let value: toml::Value = serde_json::from_value(sample_value(field.shape)).unwrap();
        table.push_str(&format!("{} = {value}\n", field.rule_key));
    }
    table
}

/// An app whose `edge` target is an `http` provider posting each action it
/// is given, as JSON, to a local server.
async fn app_with_recorder(rules: &str) -> (TestApp, MockServer) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&provider)
        .await;
    let config = format!(
        "{}\n[server]\napi_tokens = [\"{TOKEN}\"]\n[worker]\nwindow = \"10ms\"\n\
         [targets.edge]\nprovider = \"http\"\nurl = \"{}/purge\"\nbody = '{{{{ action | tojson }}}}'\n{rules}",
        sources(),
        provider.uri()
    );
    (spawn_app(&config).await, provider)
}

/// The actions the provider received, in order.
async fn received(provider: &MockServer, count: usize) -> Vec<Value> {
    eventually(WAIT, "the provider's calls", || async {
        let requests = provider.received_requests().await.unwrap_or_default();
        (requests.len() >= count).then(|| {
            requests
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap())
                .collect()
        })
    })
    .await
}

#[test]
fn every_kind_round_trips_through_the_job_format() {
    for kind in ActionKind::ALL {
        let action = Action::from_json(sample(*kind)).unwrap();
        let job = Job::new(tid("edge"), action, None);
        let wire = job.to_bytes().unwrap();
        assert_eq!(Job::from_bytes(&wire).unwrap(), job, "{kind}");
    }
}

#[tokio::test]
async fn every_kind_round_trips_through_the_purge_api() {
    let (app, provider) = app_with_recorder("").await;
    for (index, kind) in ActionKind::ALL.iter().enumerate() {
        let answer = app
            .client
            .post(format!("{}/api/v1/purge", app.address))
            .bearer_auth(TOKEN)
            .json(&json!({"target": "edge", "action": sample(*kind)}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            202,
            "{kind}: {}",
            answer.text().await.unwrap()
        );
        let calls = received(&provider, index + 1).await;
        assert_eq!(calls[index], sample(*kind), "{kind}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_kind_round_trips_through_a_rule() {
    // One rule (and one event) per kind: merged together, `everything`
    // would subsume the other purges.
    let mut rules = String::new();
    for kind in ActionKind::ALL {
        rules.push_str(&format!(
            "[[rules]]\nname = \"{kind}\"\nsource = \"github\"\nevent = \"purge-{kind}\"\n{}",
            rule_table(*kind)
        ));
    }
    let (app, provider) = app_with_recorder(&rules).await;
    for (index, kind) in ActionKind::ALL.iter().enumerate() {
        let answer = app.github(&format!("purge-{kind}"), PUSH_NEW_BRANCH).await;
        assert_eq!(answer.status(), 202, "{kind}");
        let calls = received(&provider, index + 1).await;
        assert_eq!(calls[index], sample(*kind), "{kind}");
    }
    app.stop().await;
}
