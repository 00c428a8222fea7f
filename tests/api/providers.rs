//! Contract tests of the provider adapters against local servers that answer
//! as the providers' documents say: every endpoint, and every failure
//! classified as retryable, rate limited or permanent.

use std::sync::Arc;
use std::time::Duration;

use purgehook::action::Action;
use purgehook::config::ConfigError;
use purgehook::provider::{Configured, Provider, ProviderError, registry};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fakes::bigscoots::{BigScoots, USER};
use crate::fakes::json as body_json;
use crate::fakes::wpengine::{self, WpEngine};
use crate::helpers::{APP_PASSWORD, tid};

/// Reads `keys` as the provider's; every problem, at `targets.<target>.<key>`.
fn configure(provider: &str, keys: &str, target: &str) -> Result<Configured, Vec<ConfigError>> {
    let table: toml::Table = toml::from_str(keys).expect("valid TOML");
    let client = purgehook::provider::client().unwrap();
    registry::standalone(provider, table, &tid(target), &client)
}

fn adapter(provider: &str, keys: &str) -> Arc<dyn Provider> {
    configure(provider, keys, "t")
        .unwrap_or_else(|errors| panic!("valid settings: {errors:?}"))
        .provider
}

fn bigscoots(uri: &str, password: &str) -> Arc<dyn Provider> {
    adapter(
        "bigscoots",
        &format!("base_url = \"{uri}\"\nusername = \"{USER}\"\npassword = \"{password}\""),
    )
}

/// The class of a provider error, as a short string for table-driven tests.
fn class(error: &ProviderError) -> String {
    match error {
        ProviderError::Retryable { .. } => "retryable".into(),
        ProviderError::RateLimited { retry_after, .. } => {
            format!("limited {}", retry_after.map_or(0, |d| d.as_secs()))
        }
        ProviderError::Permanent { .. } => "permanent".into(),
        ProviderError::Incomplete { remaining, .. } => {
            format!(
                "incomplete, {} left",
                serde_json::to_string(remaining).unwrap()
            )
        }
    }
}

/// Mounts each answer in turn on `server` for `method path`, and checks the
/// class of the error `provider` makes of it.
async fn assert_classes(
    server: &MockServer,
    (verb, route): (&str, &str),
    provider: &Arc<dyn Provider>,
    action: &Action,
    answers: Vec<(ResponseTemplate, &str)>,
) {
    for (answer, expected) in answers {
        server.reset().await;
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(answer)
            .mount(server)
            .await;
        let error = provider.purge(action).await.expect_err("a failure");
        assert_eq!(class(&error), expected, "{error}");
    }
}

/// The failures every HTTP provider must classify the same way.
fn common_failures() -> Vec<(ResponseTemplate, &'static str)> {
    vec![
        (
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
            "retryable",
        ),
        (
            ResponseTemplate::new(500).set_body_string("{\"trunc"),
            "retryable",
        ),
        (
            ResponseTemplate::new(429).insert_header("retry-after", "7"),
            "limited 7",
        ),
        (
            ResponseTemplate::new(429).set_body_string("slow down"),
            "limited 0",
        ),
        (ResponseTemplate::new(408), "retryable"),
        (
            ResponseTemplate::new(403).set_body_string("<h1>Forbidden</h1>"),
            "permanent",
        ),
        (
            ResponseTemplate::new(501).set_body_string("Not Implemented"),
            "permanent",
        ),
    ]
}

fn command(name: &str) -> Action {
    Action::Command { name: name.into() }
}

#[tokio::test]
async fn bigscoots_drives_all_five_documented_endpoints() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let provider = bigscoots(&site.uri(), APP_PASSWORD);
    let actions = [
        Action::EVERYTHING,
        Action::PostIds {
            post_ids: vec![1, 17],
            related: false,
        },
        Action::Urls {
            urls: vec!["https://example.com/some-page/".into()],
        },
        command("clear_opcache"),
        command("enable_cache"),
        command("disable_cache"),
        command("clear_logs"),
    ];
    for action in &actions {
        provider
            .purge(action)
            .await
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    }
    let calls: Vec<(String, String, serde_json::Value)> = site
        .requests()
        .await
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_string(), body_json(r)))
        .collect();
    let api = "/wp-json/bigscoots-cache/v2";
    assert_eq!(
        calls,
        [
            (
                "PATCH".into(),
                format!("{api}/clear-cache"),
                json!({"purge_type": "all"})
            ),
            (
                "PATCH".into(),
                format!("{api}/clear-cache"),
                json!({"purge_type": "post_ids", "post_ids": [1, 17]})
            ),
            (
                "PATCH".into(),
                format!("{api}/clear-cache"),
                json!({"purge_type": "urls", "urls": ["https://example.com/some-page/"]})
            ),
            (
                "DELETE".into(),
                format!("{api}/clear-opcache"),
                serde_json::Value::Null
            ),
            (
                "PATCH".into(),
                format!("{api}/enable-cache"),
                serde_json::Value::Null
            ),
            (
                "PATCH".into(),
                format!("{api}/disable-cache"),
                serde_json::Value::Null
            ),
            (
                "DELETE".into(),
                format!("{api}/clear-logs"),
                serde_json::Value::Null
            ),
        ]
    );
}

#[tokio::test]
async fn bigscoots_failures_are_classified() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let error = bigscoots(&site.uri(), "not the password")
        .purge(&Action::EVERYTHING)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("401") && message.contains("Sorry, you are not allowed")),
        "{error:?}"
    );

    let server = MockServer::start().await;
    let provider = bigscoots(&server.uri(), APP_PASSWORD);
    let mut answers = common_failures();
    answers.extend([
        (ResponseTemplate::new(200).set_body_string("<!DOCTYPE html><p>maintenance"), "retryable"),
        (ResponseTemplate::new(200).set_body_json(json!({"success": false, "message": "Cache is disabled"})), "permanent"),
        (ResponseTemplate::new(404).set_body_json(json!({"code": "rest_no_route", "message": "No route was found matching the URL and request method."})), "permanent"),
    ]);
    let route = ("PATCH", "/wp-json/bigscoots-cache/v2/clear-cache");
    assert_classes(&server, route, &provider, &Action::EVERYTHING, answers).await;

    let unreachable = bigscoots("http://127.0.0.1:9", APP_PASSWORD);
    assert!(matches!(
        unreachable.purge(&Action::EVERYTHING).await,
        Err(ProviderError::Retryable { .. })
    ));
}

#[tokio::test]
async fn wp_engine_purges_each_type_and_surfaces_its_errors() {
    let wpe = WpEngine::start().await;
    let keys = |password: &str| {
        format!(
            "install_id = \"inst\"\nusername = \"{}\"\npassword = \"{password}\"\nbase_url = \"{}/v1\"",
            wpengine::USER,
            wpe.server.uri()
        )
    };
    let provider = adapter("wpengine", &keys(wpengine::PASSWORD));
    for scope in ["page", "cdn", "object"] {
        let action = Action::Scopes {
            scopes: vec![scope.into()],
            full: false,
        };
        provider
            .purge(&action)
            .await
            .unwrap_or_else(|e| panic!("{scope}: {e}"));
    }
    let bodies: Vec<_> = wpe.requests().await.iter().map(body_json).collect();
    assert_eq!(
        bodies,
        [
            json!({"type": "page"}),
            json!({"type": "cdn"}),
            json!({"type": "object"})
        ]
    );

    // A second object purge within 60 s: the documented 429, and its 60 s.
    match provider.purge(&Action::EVERYTHING).await.unwrap_err() {
        ProviderError::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(60)));
            assert!(
                message.contains("rate-limited to one request every 60 seconds"),
                "{message}"
            );
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // An unknown type: 400 with errors[], surfaced.
    let invalid = Action::Scopes {
        scopes: vec!["opcache".into()],
        full: false,
    };
    match provider.purge(&invalid).await.unwrap_err() {
        ProviderError::Permanent { message } => {
            assert!(
                message.contains("Invalid purge type; type: type must be one of"),
                "{message}"
            );
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    let refused = adapter("wpengine", &keys("wrong"));
    match refused.purge(&Action::EVERYTHING).await.unwrap_err() {
        ProviderError::Permanent { message } => {
            assert!(message.contains("Bad Credentials"), "{message}")
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    let answers = vec![
        (
            ResponseTemplate::new(503).set_body_json(json!({"message": "Service unavailable"})),
            "retryable",
        ),
        (
            ResponseTemplate::new(429).insert_header("retry-after", "7"),
            "limited 7",
        ),
        (
            ResponseTemplate::new(429).set_body_json(json!({"message": "rate-limited"})),
            "limited 60",
        ),
        (ResponseTemplate::new(200).set_body_string("ok"), "none"),
    ];
    for (answer, expected) in answers {
        wpe.server.reset().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&wpe.server)
            .await;
        let outcome = provider.purge(&Action::EVERYTHING).await;
        assert_eq!(
            outcome.as_ref().err().map_or("none".into(), class),
            expected,
            "{outcome:?}"
        );
    }
}

#[test]
fn provider_settings_are_validated_and_name_the_key() {
    let keys = "base_url = \"ftp://x\"\nusername = \"u\"\npassword = \"p\"";
    let errors = configure("bigscoots", keys, "blog").err().unwrap();
    assert_eq!(errors[0].path, "targets.blog.base_url");

    let keys = "install_id = \"i\"\nusername = \"u\"";
    let errors = configure("wpengine", keys, "shop").err().unwrap();
    assert_eq!(errors[0].path, "targets.shop.password");
    assert!(errors[0].message.contains("missing"), "{}", errors[0]);
}

#[tokio::test]
async fn brilliant_directories_refreshes_scopes_or_everything_as_documented() {
    let server = crate::fakes::brilliant::start().await;
    let keys = |key: &str| format!("base_url = \"{}\"\napi_key = \"{key}\"", server.uri());
    let provider = adapter(
        "brilliant_directories",
        &keys(crate::fakes::brilliant::API_KEY),
    );
    let scoped = Action::Scopes {
        scopes: vec!["data_widgets".into(), "menus".into()],
        full: false,
    };
    provider.purge(&scoped).await.unwrap();
    provider.purge(&Action::EVERYTHING).await.unwrap();
    provider
        .purge(&Action::Everything { full: true })
        .await
        .unwrap();
    let forms: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        forms,
        [
            "verbose=true&scope=data_widgets%2Cmenus",
            "verbose=true",
            "verbose=true&full=true"
        ]
    );

    let refused = adapter("brilliant_directories", &keys("wrong"));
    let error = refused.purge(&Action::EVERYTHING).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("401") && message.contains("Invalid API key")),
        "{error:?}"
    );
    let invalid = Action::Scopes {
        scopes: vec!["widgets".into()],
        full: false,
    };
    let error = provider.purge(&invalid).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("Invalid scope value 'widgets'")),
        "{error:?}"
    );

    let mut answers = common_failures();
    answers.extend([
        (
            ResponseTemplate::new(405)
                .set_body_json(json!({"status": "error", "message": "Method not allowed"})),
            "permanent",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "error", "message": "menus: timeout"})),
            "retryable",
        ),
    ]);
    let route = ("POST", "/api/v2/website_settings/refreshCache");
    assert_classes(&server, route, &provider, &Action::EVERYTHING, answers).await;
}

#[tokio::test]
async fn a_brilliant_directories_area_that_failed_is_asked_again_alone() {
    let server = crate::fakes::brilliant::start_failing(&[
        ("menus", "menus cache rebuild timed out"),
        ("file_permissions", "chmod failed on /uploads"),
    ])
    .await;
    let keys = format!(
        "base_url = \"{}\"\napi_key = \"{}\"",
        server.uri(),
        crate::fakes::brilliant::API_KEY
    );
    let provider = adapter("brilliant_directories", &keys);
    let scoped = Action::Scopes {
        scopes: vec!["data_widgets".into(), "menus".into()],
        full: false,
    };
    let error = provider.purge(&scoped).await.unwrap_err();
    assert_eq!(
        class(&error),
        r#"incomplete, {"kind":"scopes","scopes":["menus"],"full":false} left"#
    );
    assert!(
        error
            .to_string()
            .contains("menus: menus cache rebuild timed out"),
        "{error}"
    );
    // The maintenance of a full refresh cannot be asked as a scope.
    let error = provider
        .purge(&Action::Everything { full: true })
        .await
        .unwrap_err();
    assert_eq!(
        class(&error),
        r#"incomplete, {"kind":"everything","full":true} left"#
    );
    assert!(
        error.to_string().contains("file_permissions: chmod failed"),
        "{error}"
    );
    let untouched = Action::Scopes {
        scopes: vec!["css".into()],
        full: false,
    };
    provider.purge(&untouched).await.expect("css refreshes");
}

#[test]
fn brilliant_directories_scopes_are_checked_when_rules_load() {
    let toml = format!(
        "{}[targets.bd]\nprovider = \"brilliant_directories\"\nbase_url = \"https://www.example.com\"\napi_key = \"k\"\n\
         [[rules]]\nname = \"widgets\"\nsource = \"github\"\n[[rules.actions]]\ntarget = \"bd\"\nscopes = [\"data_widgets\", \"widgets\"]\n",
        crate::helpers::sources()
    );
    let settings =
        purgehook::config::from_toml(&toml, std::path::Path::new("t.toml"), Vec::new()).unwrap();
    let errors = purgehook::app::Prepared::new(settings).expect_err("refused");
    assert!(
        errors.to_string().contains(
            "rule \"widgets\": target \"bd\": unknown Brilliant Directories cache area \"widgets\""
        ),
        "{errors}"
    );
}

fn ocm(uri: &str, site: &str) -> Arc<dyn Provider> {
    adapter(
        "oracle_ocm",
        &format!(
            "base_url = \"{uri}\"\nsite = \"{site}\"\ntoken = \"{}\"\npoll_interval = \"10ms\"",
            crate::fakes::async_jobs::TOKEN
        ),
    )
}

#[tokio::test]
async fn oracle_ocm_polls_the_refresh_job_until_it_succeeds() {
    let server = crate::fakes::async_jobs::ocm(2, "succeeded").await;
    for site in ["SITE1", "name:Blog"] {
        ocm(&server.uri(), site)
            .purge(&Action::EVERYTHING)
            .await
            .unwrap_or_else(|e| panic!("{site}: {e}"));
    }
    let requests = server.received_requests().await.unwrap();
    let (posts, gets): (Vec<_>, Vec<_>) =
        requests.iter().partition(|r| r.method.as_str() == "POST");
    assert_eq!(
        posts[0].url.path(),
        "/sites/management/api/v1/sites/SITE1/refresh"
    );
    assert_eq!(
        posts[1].url.path(),
        "/sites/management/api/v1/sites/name:Blog/refresh"
    );
    assert_eq!(gets.len(), 6, "pending, pending, done for each job");
}

/// A job status read that hiccups: a 503, then a 429 asking for a second.
fn hiccups() -> Vec<ResponseTemplate> {
    vec![
        ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
    ]
}

fn methods(requests: &[wiremock::Request]) -> Vec<&str> {
    requests.iter().map(|r| r.method.as_str()).collect()
}

#[tokio::test]
async fn oracle_ocm_reads_the_same_job_again_after_a_failed_read() {
    let server = crate::fakes::async_jobs::ocm_with(1, "succeeded", hiccups(), false).await;
    ocm(&server.uri(), "SITE1")
        .purge(&Action::EVERYTHING)
        .await
        .expect("the job is read again until it succeeds");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        methods(&requests),
        ["POST", "GET", "GET", "GET", "GET"],
        "one refresh; its job read through a 503 and a 429, then pending, then done"
    );
    let jobs: Vec<&str> = requests[1..].iter().map(|r| r.url.path()).collect();
    assert!(jobs.iter().all(|path| path.ends_with("/JOB1")), "{jobs:?}");
}

#[tokio::test]
async fn oracle_ocm_asks_again_only_for_a_job_it_does_not_know() {
    let server = crate::fakes::async_jobs::ocm_with(0, "succeeded", Vec::new(), true).await;
    let provider = ocm(&server.uri(), "SITE1");
    let error = provider.purge(&Action::EVERYTHING).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Retryable { message } if message.contains("does not know the job")),
        "{error:?}"
    );
    // The worker's retry asks for a new job, which is read to the end.
    provider.purge(&Action::EVERYTHING).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(methods(&requests), ["POST", "GET", "POST", "GET"]);
}

#[tokio::test]
async fn oracle_ocm_failures_are_permanent_with_their_error_code() {
    let failing = crate::fakes::async_jobs::ocm(1, "failed").await;
    let error = ocm(&failing.uri(), "SITE1")
        .purge(&Action::EVERYTHING)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("job failed") && message.contains("OCE-PRE-001002")),
        "{error:?}"
    );
    let server = crate::fakes::async_jobs::ocm(0, "succeeded").await;
    for (site, code) in [
        ("FORBIDDEN", "OCE-SITEMGMT-009026"),
        ("NOPE", "OCE-SITEMGMT-009003"),
        ("DELETED", "OCE-SITEMGMT-009059"),
    ] {
        let error = ocm(&server.uri(), site)
            .purge(&Action::EVERYTHING)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Permanent { message } if message.contains(code)),
            "{site}: {error:?}"
        );
    }
    let refused = adapter(
        "oracle_ocm",
        &format!(
            "base_url = \"{}\"\nsite = \"SITE1\"\ntoken = \"wrong\"",
            server.uri()
        ),
    );
    assert!(matches!(
        refused.purge(&Action::EVERYTHING).await,
        Err(ProviderError::Permanent { .. })
    ));

    let mut answers = common_failures();
    answers.push((ResponseTemplate::new(202), "retryable")); // no Location to poll
    let route = ("POST", "/sites/management/api/v1/sites/SITE1/refresh");
    assert_classes(
        &server,
        route,
        &ocm(&server.uri(), "SITE1"),
        &Action::EVERYTHING,
        answers,
    )
    .await;
}

#[tokio::test]
async fn cache_task_states_are_read_again_after_a_failed_read() {
    let server = crate::fakes::async_jobs::tasks_with(hiccups()).await;
    let keys = format!(
        "base_url = \"{}\"\ntoken = \"{}\"\npoll_interval = \"10ms\"",
        server.uri(),
        crate::fakes::async_jobs::TOKEN
    );
    adapter("cache_tasks", &keys)
        .purge(&resource("catalog"))
        .await
        .expect("the task is read again until it succeeds");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(methods(&requests), ["POST", "GET", "GET", "GET", "GET"]);
    let queries: Vec<Option<&str>> = requests[1..].iter().map(|r| r.url.query()).collect();
    assert!(
        queries.iter().all(|q| *q == Some("task_id=task-1")),
        "always the same task: {queries:?}"
    );
}

#[test]
fn a_cache_task_parameter_cannot_replace_the_title() {
    let toml = format!(
        "{}[targets.catalog]\nprovider = \"cache_tasks\"\nbase_url = \"https://cache.example.com\"\ntoken = \"t\"\n\
         [[rules]]\nname = \"products\"\nsource = \"github\"\n[[rules.actions]]\ntarget = \"catalog\"\ntitle = \"products\"\nparams = {{ resource_title = \"other\" }}\n",
        crate::helpers::sources()
    );
    let settings =
        purgehook::config::from_toml(&toml, std::path::Path::new("t.toml"), Vec::new()).unwrap();
    let errors = purgehook::app::Prepared::new(settings)
        .expect_err("refused")
        .to_string();
    assert!(
        errors.contains("rules[0].actions[0]")
            && errors.contains("\"resource_title\" is the request's title field"),
        "{errors}"
    );
}

fn resource(title: &str) -> Action {
    Action::Resource {
        title: title.into(),
        params: [
            ("lang".to_string(), json!("en")),
            ("page".to_string(), json!(3)),
        ]
        .into(),
    }
}

#[tokio::test]
async fn cache_tasks_are_polled_to_success_or_failure() {
    let server = crate::fakes::async_jobs::tasks().await;
    let keys = |token: &str| {
        format!(
            "base_url = \"{}\"\ntoken = \"{token}\"\npoll_interval = \"10ms\"",
            server.uri()
        )
    };
    let provider = adapter("cache_tasks", &keys(crate::fakes::async_jobs::TOKEN));
    provider.purge(&resource("catalog")).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        body_json(&requests[0]),
        json!({"resource_title": "catalog", "lang": "en", "page": 3})
    );
    assert_eq!(requests[1].url.query(), Some("task_id=task-1"));
    assert_eq!(requests.len(), 3, "refresh, STARTED, SUCCESS");

    let error = provider.purge(&resource("broken")).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("FAILURE")),
        "{error:?}"
    );
    let refused = adapter("cache_tasks", &keys("wrong"));
    let error = refused.purge(&resource("catalog")).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("Invalid token.")),
        "{error:?}"
    );

    let mut answers = common_failures();
    answers.push((
        ResponseTemplate::new(200).set_body_string("OK"),
        "retryable",
    ));
    let route = ("POST", "/api/v1/cache/refresh/");
    assert_classes(&server, route, &provider, &resource("catalog"), answers).await;
}

/// A local server that records requests and answers each with `respond`.
async fn recording(
    respond: impl Fn(&wiremock::Request) -> ResponseTemplate + Send + Sync + 'static,
) -> MockServer {
    struct Responder<F>(F);
    impl<F: Fn(&wiremock::Request) -> ResponseTemplate + Send + Sync> wiremock::Respond
        for Responder<F>
    {
        fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
            (self.0)(request)
        }
    }
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Responder(respond))
        .mount(&server)
        .await;
    server
}

fn header<'a>(request: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn cloudflare_splits_at_100_items_and_sends_each_purge_type() {
    let server = recording(|request| {
        if header(request, "authorization") != Some("Bearer cf-token") {
            return ResponseTemplate::new(403).set_body_json(json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]}));
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let too_many = ["files", "tags", "hosts", "prefixes"].iter().any(|k| body[k].as_array().is_some_and(|a| a.len() > 100));
        if too_many {
            return ResponseTemplate::new(400).set_body_json(json!({"success": false, "errors": [{"code": 1015, "message": "Too many items in purge request"}]}));
        }
        ResponseTemplate::new(200).set_body_json(json!({"success": true, "errors": [], "messages": [], "result": {"id": "9a7806061c88ada191ed06f989cc3dac"}}))
    }).await;
    let keys = |token: &str| {
        format!(
            "zone_id = \"ZONE\"\napi_token = \"{token}\"\nbase_url = \"{}/client/v4\"",
            server.uri()
        )
    };
    let settings = configure("cloudflare", &keys("cf-token"), "cdn").unwrap();
    let provider = settings.provider.clone();
    let urls: Vec<String> = (0..150)
        .map(|i| format!("https://www.example.com/p{i:03}"))
        .collect();
    let pending = [
        Action::Urls { urls },
        Action::Tags {
            tags: vec!["blog".into()],
        },
        Action::Prefixes {
            prefixes: vec![
                "https://www.example.com/blog/".into(),
                "cdn.example.com".into(),
            ],
        },
    ];
    let calls = purgehook::worker::coalesce::coalesce(&pending, &settings.capabilities);
    for call in &calls {
        provider
            .purge(call)
            .await
            .unwrap_or_else(|e| panic!("{call:?}: {e}"));
    }
    provider.purge(&Action::EVERYTHING).await.unwrap();
    let bodies: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(body_json)
        .collect();
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() == "/client/v4/zones/ZONE/purge_cache")
    );
    assert_eq!(bodies[0]["files"].as_array().unwrap().len(), 100);
    assert_eq!(bodies[1]["files"].as_array().unwrap().len(), 50);
    assert_eq!(
        &bodies[2..],
        [
            json!({"hosts": ["cdn.example.com"]}),
            json!({"prefixes": ["www.example.com/blog/"]}),
            json!({"tags": ["blog"]}),
            json!({"purge_everything": true}),
        ]
    );

    let refused = adapter("cloudflare", &keys("wrong"));
    let error = refused.purge(&Action::EVERYTHING).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("Authentication error")),
        "{error:?}"
    );
    let mut answers = common_failures();
    answers.push((ResponseTemplate::new(200).set_body_json(json!({"success": false, "errors": [{"code": 1012, "message": "Request must contain one of \"purge_everything\", \"files\""}]})), "permanent"));
    assert_classes(
        &server,
        ("POST", "/client/v4/zones/ZONE/purge_cache"),
        &provider,
        &Action::EVERYTHING,
        answers,
    )
    .await;
}

#[tokio::test]
async fn fastly_purges_keys_urls_and_all_softly_when_asked() {
    let server = recording(|request| {
        if header(request, "fastly-key") != Some("fastly-token") {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"msg": "Provided credentials are missing or invalid"}));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"status": "ok", "id": "108-1391560174-974124"}))
    })
    .await;
    let keys = |token: &str| {
        format!(
            "service_id = \"SVC\"\napi_key = \"{token}\"\nsoft_purge = true\nbase_url = \"{}\"",
            server.uri()
        )
    };
    let provider = adapter("fastly", &keys("fastly-token"));
    provider
        .purge(&Action::Tags {
            tags: vec!["post-42".into(), "home".into()],
        })
        .await
        .unwrap();
    provider
        .purge(&Action::Urls {
            urls: vec!["https://www.example.com/a/b?x=1".into()],
        })
        .await
        .unwrap();
    provider.purge(&Action::EVERYTHING).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let seen: Vec<(String, Option<&str>)> = requests
        .iter()
        .map(|r| (r.url.path().to_string(), header(r, "fastly-soft-purge")))
        .collect();
    assert_eq!(
        seen,
        [
            ("/service/SVC/purge".to_string(), Some("1")),
            ("/purge/www.example.com/a/b".to_string(), Some("1")),
            ("/service/SVC/purge_all".to_string(), None),
        ]
    );
    assert_eq!(
        body_json(&requests[0]),
        json!({"surrogate_keys": ["post-42", "home"]})
    );
    assert_eq!(requests[1].url.query(), Some("x=1"));

    let error = adapter("fastly", &keys("nope"))
        .purge(&Action::EVERYTHING)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("credentials are missing")),
        "{error:?}"
    );
    let caps = configure("fastly", &keys("fastly-token"), "t")
        .unwrap()
        .capabilities;
    assert_eq!(
        caps.max_items(purgehook::action::ActionKind::Tags),
        Some(256)
    );
    assert_classes(
        &server,
        ("POST", "/service/SVC/purge_all"),
        &provider,
        &Action::EVERYTHING,
        common_failures(),
    )
    .await;
}

#[tokio::test]
async fn varnish_purges_urls_bans_prefixes_and_purges_keys() {
    let server = recording(
        |request| match (request.method.as_str(), request.url.path()) {
            ("PURGE", "/not-cached/") => ResponseTemplate::new(404),
            ("PURGE", _) | ("BAN", "/") => ResponseTemplate::new(200).set_body_string("Purged"),
            _ => ResponseTemplate::new(405).set_body_string("Not allowed."),
        },
    )
    .await;
    let provider = adapter("varnish", &format!("base_url = \"{}\"", server.uri()));
    provider
        .purge(&Action::Urls {
            urls: vec![
                "https://www.example.com/blog/hello/".into(),
                "https://www.example.com/not-cached/".into(),
            ],
        })
        .await
        .unwrap();
    provider
        .purge(&Action::Prefixes {
            prefixes: vec!["https://www.example.com/blog/2026.11/".into()],
        })
        .await
        .unwrap();
    provider
        .purge(&Action::Tags {
            tags: vec!["post-42".into(), "home".into()],
        })
        .await
        .unwrap();
    provider.purge(&Action::EVERYTHING).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let seen: Vec<String> = requests
        .iter()
        .map(|r| {
            let host = header(r, "host").map(|h| h.split(':').next().unwrap_or_default());
            let (ban, key) = (header(r, "x-ban-url"), header(r, "xkey"));
            format!(
                "{} {} host={host:?} ban={ban:?} xkey={key:?}",
                r.method,
                r.url.path()
            )
        })
        .collect();
    assert_eq!(
        seen[0],
        "PURGE /blog/hello/ host=Some(\"www.example.com\") ban=None xkey=None"
    );
    assert!(
        seen[1].starts_with("PURGE /not-cached/ "),
        "a 404 is 'not cached': {seen:?}"
    );
    assert!(
        seen[2].starts_with("BAN / ") && seen[2].contains("ban=Some(\"^/blog/2026\\\\.11/\")"),
        "{seen:?}"
    );
    assert_eq!(header(&requests[2], "x-ban-host"), Some("www.example.com"));
    assert!(
        seen[3].starts_with("PURGE / ") && seen[3].ends_with("xkey=Some(\"post-42 home\")"),
        "{seen:?}"
    );
    assert!(
        seen[4].starts_with("BAN / ") && seen[4].contains("ban=Some(\".\")"),
        "{seen:?}"
    );

    let urls = Action::Urls {
        urls: vec!["https://www.example.com/blog/".into()],
    };
    assert_classes(
        &server,
        ("PURGE", "/blog/"),
        &provider,
        &urls,
        common_failures(),
    )
    .await;
    let refusing = recording(|_| ResponseTemplate::new(405).set_body_string("Not allowed.")).await;
    let error = adapter("varnish", &format!("base_url = \"{}\"", refusing.uri()))
        .purge(&Action::EVERYTHING)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent { message } if message.contains("405")),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_http_provider_renders_its_templates_and_secret_headers() {
    let server = recording(|request| {
        if header(request, "authorization") != Some("Bearer from-a-file") {
            return ResponseTemplate::new(401).set_body_json(json!({"message": "who are you?"}));
        }
        ResponseTemplate::new(204)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth");
    std::fs::write(&secret, "Bearer from-a-file\n").unwrap();
    let provider = adapter(
        "http",
        &format!(
            r#"method = "PUT"
url = "{}/cache/{{{{ target }}}}/{{{{ action.kind }}}}"
headers = {{ Authorization = "file:{}", X-Items = "{{{{ action.tags | join(',') }}}}" }}
body = '{{"keys": {{{{ action.tags | tojson }}}}}}'
"#,
            server.uri(),
            secret.display()
        ),
    );
    provider
        .purge(&Action::Tags {
            tags: vec!["a".into(), "b c".into()],
        })
        .await
        .unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.method.as_str(), "PUT");
    assert_eq!(request.url.path(), "/cache/t/tags");
    assert_eq!(header(request, "x-items"), Some("a,b c"));
    assert_eq!(header(request, "content-type"), Some("application/json"));
    assert_eq!(body_json(request), json!({"keys": ["a", "b c"]}));

    let tags = Action::Tags {
        tags: vec!["a".into()],
    };
    assert_classes(
        &server,
        ("PUT", "/cache/t/tags"),
        &provider,
        &tags,
        common_failures(),
    )
    .await;
    let keys = "url = \"{{ action.kind \"\nmethod = \"FE TCH\"";
    let errors = configure("http", keys, "api").err().unwrap();
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        errors.iter().any(|e| e.starts_with("targets.api.method")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("targets.api.url")),
        "{errors:?}"
    );
}
