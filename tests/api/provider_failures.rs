//! What the worker does when a provider answers as its document says it may
//! under failure: an area that failed is asked again alone and then
//! dead-lettered with the provider's words; a 429 without `Retry-After`
//! waits a floor; credentials are read from references; a rule value with
//! text around an expression is checked per event, not at load; an answer
//! whose body never ends is read up to its cap and classified.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use purgehook::action::Action;
use purgehook::capability::Capabilities;
use purgehook::job::Job;
use purgehook::provider::{Provider, ProviderError};
use purgehook::queue::Queue;
use purgehook::worker::TargetWorker;
use purgehook::worker::breaker::BreakerPolicy;
use purgehook::worker::retry::RetryPolicy;
use tokio::time::Instant;

use crate::fakes::wpengine::{PASSWORD, USER, WpEngine};
use crate::helpers::{eventually, sources, spawn_app, tid};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_failed_area_is_retried_alone_then_dead_lettered_with_the_providers_words() {
    let site =
        crate::fakes::brilliant::start_failing(&[("menus", "menus cache rebuild timed out")]).await;
    let config = format!(
        "{}[worker]\nwindow = \"10ms\"\nbackoff = \"10ms\"\nmax_attempts = 2\n\
         [targets.bd]\nprovider = \"brilliant_directories\"\nbase_url = \"{}\"\napi_key = \"{}\"\n\
         [[rules]]\nname = \"widgets\"\nsource = \"github\"\n[[rules.actions]]\ntarget = \"bd\"\nscopes = [\"data_widgets\", \"menus\"]\n",
        sources(),
        site.uri(),
        crate::fakes::brilliant::API_KEY
    );
    let app = spawn_app(&config).await;
    let push = crate::helpers::PUSH_NEW_BRANCH;
    assert_eq!(app.github("push", push).await.status(), 202);

    let dead = eventually(WAIT, "a dead letter", || async {
        let dead = app.queue.dead_letters().await.unwrap();
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert!(
        dead[0]
            .reason
            .contains("menus: menus cache rebuild timed out"),
        "{}",
        dead[0].reason
    );
    let scopes: Vec<String> = site
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        scopes,
        [
            "verbose=true&scope=data_widgets%2Cmenus",
            "verbose=true&scope=menus"
        ],
        "only the area that failed is asked again"
    );
    app.stop().await;
}

/// A provider that answers 429 without `Retry-After` once, then succeeds,
/// recording when it was called.
#[derive(Default)]
struct LimitedOnce {
    calls: Mutex<Vec<Instant>>,
}

#[async_trait::async_trait]
impl Provider for LimitedOnce {
    async fn purge(&self, _: &Action) -> Result<(), ProviderError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Instant::now());
        if calls.len() == 1 {
            return Err(ProviderError::RateLimited {
                retry_after: None,
                message: "429 Too Many Requests".into(),
            });
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "limited once".into()
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_waits_the_floor_before_the_next_call() {
    let provider = Arc::new(LimitedOnce::default());
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).await.unwrap();
    let worker = TargetWorker {
        target: tid("edge"),
        provider: provider.clone(),
        capabilities: Capabilities::any("limited"),
        window: Duration::from_millis(10),
        rate: None,
        retry: RetryPolicy {
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            max_attempts: 5,
        },
        max_batch: 100,
        stop_grace: Duration::from_secs(1),
        breaker: BreakerPolicy {
            failures: 0,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(60),
        },
        rate_limited_wait: Duration::from_secs(30),
        escalate_after: None,
        after_purge: None,
        history: purgehook::history::History::off(),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(worker.run(queue.clone(), stop.clone()));
    let job = Job::new(tid("edge"), Action::EVERYTHING, None);
    queue.publish(&[job]).await.unwrap();
    let calls = eventually(Duration::from_secs(120), "the second call", || async {
        let calls = provider.calls.lock().unwrap().clone();
        (calls.len() == 2).then_some(calls)
    })
    .await;
    assert!(
        calls[1] - calls[0] >= Duration::from_secs(30),
        "the retry waited the floor, not the 10 ms backoff: {:?}",
        calls[1] - calls[0]
    );
    stop.cancel();
    queue.close().await;
}

#[tokio::test]
async fn credentials_written_as_references_are_resolved() {
    let wpe = WpEngine::start().await;
    let dir = tempfile::tempdir().unwrap();
    let user_file = dir.path().join("wpe.user");
    std::fs::write(&user_file, format!("{USER}\n")).unwrap();
    let target = wpe.target("shop", "install1", PASSWORD).replace(
        &format!("username = \"{USER}\""),
        &format!("username = \"file:{}\"", user_file.display()),
    );
    let config = format!(
        "{}{target}[[rules]]\nname = \"push\"\nsource = \"github\"\n[[rules.actions]]\ntarget = \"shop\"\nscopes = [\"page\"]\n",
        sources()
    );
    let app = spawn_app(&config).await;
    assert_eq!(
        app.github("push", crate::helpers::PUSH_NEW_BRANCH)
            .await
            .status(),
        202
    );
    eventually(WAIT, "the purge", || async {
        (app.queue.pending_jobs("shop") == Some(0) && !wpe.requests().await.is_empty())
            .then_some(())
    })
    .await;
    assert!(
        app.queue.dead_letters().await.unwrap().is_empty(),
        "WP Engine accepted the user read from the file"
    );
    app.stop().await;
}

#[tokio::test]
async fn text_around_an_expression_is_checked_per_event_not_at_load() {
    let config = format!(
        "{}[targets.notes]\nprovider = \"log\"\n\
         [[rules]]\nname = \"repository\"\nsource = \"github\"\n[[rules.actions]]\ntarget = \"notes\"\n\
         urls = [\"{{{{ payload.repository.html_url }}}}/\", \"https://site.example/{{{{ payload.ref }}}}/\"]\n\
         [[rules]]\nname = \"relative\"\nsource = \"github\"\nevent = \"relative\"\n[[rules.actions]]\ntarget = \"notes\"\n\
         urls = [\"{{{{ payload.nothing }}}}/about/\"]\n",
        sources()
    );
    let app = spawn_app(&config).await;
    let push = crate::helpers::PUSH_NEW_BRANCH;
    assert_eq!(app.github("push", push).await.status(), 202);
    let refused = app.github("relative", push).await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("\\\"/about/\\\" is not an absolute http(s) URL")
            && body.contains("relative"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_endless_error_body_is_read_up_to_its_cap_and_the_call_classified() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // A provider that answers 500 with a body that never ends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = {
        let written = written.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let written = written.clone();
                tokio::spawn(async move {
                    let mut head = vec![0; 65536];
                    let _ = socket.read(&mut head).await;
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut out = socket;
                    if out
                        .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    while out.write_all(&chunk).await.is_ok() {
                        written.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        })
    };
    let config = format!(
        "{}[worker]\nwindow = \"10ms\"\nmax_attempts = 1\n\
         [targets.blog]\nprovider = \"bigscoots\"\nbase_url = \"http://{address}\"\nusername = \"deploy\"\npassword = \"abcd EFGH 1234 ijkl MNOP 6789\"\n\
         [[rules]]\nname = \"push\"\nsource = \"github\"\n[[rules.actions]]\ntarget = \"blog\"\neverything = true\n",
        sources()
    );
    let app = spawn_app(&config).await;
    assert_eq!(
        app.github("push", crate::helpers::PUSH_NEW_BRANCH)
            .await
            .status(),
        202
    );
    let dead = eventually(WAIT, "the dead letter", || async {
        let dead = app.queue.dead_letters().await.unwrap();
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert!(
        dead[0].reason.contains("with a body over 1048576 bytes"),
        "{}",
        dead[0].reason
    );
    // The connection was dropped after the cap, not read to an end that
    // never comes: what was sent is the cap plus what the sockets buffer.
    let sent = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent < 32 * 1024 * 1024,
        "{sent} bytes sent before the client let go"
    );
    server.abort();
    app.stop().await;
}
