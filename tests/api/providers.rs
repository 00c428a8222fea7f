//! Contract tests of the provider adapters against local servers that answer
//! as the providers' documents say: every endpoint, and every failure
//! classified as retryable, rate limited or permanent.

use std::sync::Arc;
use std::time::Duration;

use purgehook::config::ConfigError;
use purgehook::job::Action;
use purgehook::provider::{Provider, ProviderError, ProviderSettings};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fakes::bigscoots::{BigScoots, USER};
use crate::fakes::json as body_json;
use crate::fakes::wpengine::{self, WpEngine};
use crate::helpers::APP_PASSWORD;

fn adapter(provider: &str, keys: &str) -> Arc<dyn Provider> {
    let table: toml::Table = toml::from_str(keys).expect("valid TOML");
    let mut errors: Vec<ConfigError> = Vec::new();
    let settings = ProviderSettings::parse(provider, table, "targets.t", &mut errors)
        .unwrap_or_else(|| panic!("valid settings: {errors:?}"));
    settings.build("t", &purgehook::provider::client())
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
        (ResponseTemplate::new(408), "retryable"),
        (
            ResponseTemplate::new(403).set_body_string("<h1>Forbidden</h1>"),
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
}

#[test]
fn provider_settings_are_validated_and_name_the_key() {
    let mut errors = Vec::new();
    let table: toml::Table =
        toml::from_str("base_url = \"ftp://x\"\nusername = \"u\"\npassword = \"p\"").unwrap();
    assert!(ProviderSettings::parse("bigscoots", table, "targets.blog", &mut errors).is_none());
    assert_eq!(errors[0].path, "targets.blog.base_url");

    let mut errors = Vec::new();
    let table: toml::Table = toml::from_str("install_id = \"i\"\nusername = \"u\"").unwrap();
    assert!(ProviderSettings::parse("wpengine", table, "targets.shop", &mut errors).is_none());
    assert!(
        errors[0].to_string().contains("missing field `password`"),
        "{}",
        errors[0]
    );
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
        (ResponseTemplate::new(429), "limited 0"),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "error", "message": "menus: timeout"})),
            "retryable",
        ),
    ]);
    let route = ("POST", "/api/v2/website_settings/refreshCache");
    assert_classes(&server, route, &provider, &Action::EVERYTHING, answers).await;
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
    let errors = purgehook::app::Prepared::new(settings)
        .err()
        .expect("refused");
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
