use super::*;

fn object_purge() -> Action {
    Action::Scopes {
        scopes: vec!["object".into()],
        full: false,
    }
}

fn rate(text: &str) -> Rate {
    text.parse().unwrap()
}

/// Makes calls of `took` each as soon as the limiter allows, for `span`;
/// returns when each started.
async fn calls_within(
    limiter: &mut CallLimiter,
    call: &Action,
    took: Duration,
    span: Duration,
) -> Vec<Duration> {
    let start = Instant::now();
    let mut started = Vec::new();
    while start.elapsed() <= span {
        match limiter.try_acquire(call) {
            Ok(()) => {
                started.push(start.elapsed());
                tokio::time::sleep(took).await;
                limiter.record_end(call);
            }
            Err(at) => tokio::time::sleep_until(at).await,
        }
    }
    started
}

fn millis(durations: &[Duration]) -> Vec<u64> {
    durations.iter().map(|d| d.as_millis() as u64).collect()
}

#[tokio::test(start_paused = true)]
async fn n_calls_per_period_count_from_the_end_of_each_call_plus_a_margin() {
    let mut limiter = CallLimiter::new(Some(rate("3/30s")), None);
    let started = calls_within(
        &mut limiter,
        &object_purge(),
        Duration::ZERO,
        Duration::from_secs(70),
    )
    .await;
    // Margin: 2 % of 30 s = 600 ms.
    assert_eq!(
        millis(&started),
        [0, 0, 0, 30_600, 30_600, 30_600, 61_200, 61_200, 61_200]
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_pushes_the_next_one_back() {
    let mut limiter = CallLimiter::new(Some(rate("1/5s")), None);
    let started = calls_within(
        &mut limiter,
        &object_purge(),
        Duration::from_secs(2),
        Duration::from_secs(16),
    )
    .await;
    // Each call takes 2 s; the next starts 5 s + 100 ms after it ended.
    assert_eq!(millis(&started), [0, 7_100, 14_200]);
}

#[tokio::test(start_paused = true)]
async fn no_two_arrivals_are_closer_than_the_period() {
    let mut limiter = CallLimiter::new(Some(rate("1/5s")), None);
    let started = calls_within(
        &mut limiter,
        &object_purge(),
        Duration::from_millis(30),
        Duration::from_secs(60),
    )
    .await;
    for pair in started.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(5), "{started:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_check_takes_nothing() {
    let mut limiter = CallLimiter::new(Some(rate("1/5s")), None);
    assert!(limiter.try_acquire(&object_purge()).is_ok());
    limiter.record_end(&object_purge());
    let at = limiter.try_acquire(&object_purge()).unwrap_err();
    for _ in 0..10 {
        assert_eq!(limiter.try_acquire(&object_purge()), Err(at));
    }
    assert_eq!(at - Instant::now(), Duration::from_millis(5_100));
    tokio::time::sleep_until(at).await;
    assert!(limiter.try_acquire(&object_purge()).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_documented_limit_applies_only_to_its_calls_and_a_rate_replaces_it() {
    let documented = DefaultRate {
        rate: rate("1/60s"),
        applies_to: |a| matches!(a, Action::Scopes { scopes, .. } if scopes[0] == "object"),
    };
    let urls = Action::Urls {
        urls: vec!["https://example.com/".into()],
    };
    let mut limiter = CallLimiter::new(None, Some(documented));
    assert!(limiter.try_acquire(&object_purge()).is_ok());
    limiter.record_end(&object_purge());
    assert!(limiter.try_acquire(&object_purge()).is_err());
    assert!(limiter.try_acquire(&urls).is_ok());
    limiter.record_end(&urls);
    assert!(limiter.try_acquire(&urls).is_ok());

    let mut limiter = CallLimiter::new(Some(rate("1/5s")), Some(documented));
    assert!(limiter.try_acquire(&object_purge()).is_ok());
    limiter.record_end(&object_purge());
    let next = limiter.try_acquire(&urls).unwrap_err();
    assert_eq!(next - Instant::now(), Duration::from_millis(5_100));
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_every_call() {
    let mut limiter = CallLimiter::new(None, None);
    let until = Instant::now() + Duration::from_secs(120);
    limiter.block_until(until);
    limiter.block_until(Instant::now() + Duration::from_secs(1));
    assert_eq!(limiter.try_acquire(&object_purge()), Err(until));
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(limiter.try_acquire(&object_purge()), Ok(()));
}

#[test]
fn the_margin_is_two_percent_between_50_ms_and_a_second() {
    assert_eq!(margin(Duration::from_secs(5)), Duration::from_millis(100));
    assert_eq!(
        margin(Duration::from_millis(100)),
        Duration::from_millis(50)
    );
    assert_eq!(margin(Duration::from_secs(60)), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn the_next_call_is_due_when_the_rate_or_a_hold_allows() {
    let call = Action::EVERYTHING;
    let mut limiter = CallLimiter::new(Some(rate("2/10s")), None);
    let start = Instant::now();
    assert!(limiter.next_call_at() <= start, "free before any call");
    limiter.record_end(&call);
    assert!(limiter.next_call_at() <= start, "one of two calls spent");
    limiter.record_end(&call);
    let due = start + Duration::from_secs(10) + margin(Duration::from_secs(10));
    assert_eq!(limiter.next_call_at(), due);
    assert_eq!(limiter.try_acquire(&call), Err(due));
    limiter.block_until(start + Duration::from_secs(60));
    assert_eq!(limiter.next_call_at(), start + Duration::from_secs(60));
}
