//! Polling an asynchronous provider job to completion, for the providers
//! whose purge is a job (Oracle Content Management, the cache task API).
//! The interval the job suggests is honoured, else the interval backs off
//! (doubling up to a cap). A read that fails (5xx, timeout, 429) is made
//! again against the same job — after the `Retry-After` the provider gave,
//! or the backoff — never by asking for a new job; only a job that is
//! unknown to the provider (404) or still running past the time limit is a
//! retryable failure, so the purge is asked again later. A job the provider
//! reports failed is permanent, with its own words.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::ProviderError;

/// How to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// First wait between two reads of the job.
    pub interval: Duration,
    /// Longest wait between two reads.
    pub max_interval: Duration,
    /// How long the job may run before the purge counts as failed (and is retried).
    pub timeout: Duration,
}

impl PollPolicy {
    /// Reads the `poll_interval` and `poll_timeout` keys of an async
    /// provider, with its defaults; the wait between reads backs off up to
    /// 30 s (or the first interval, if longer).
    pub fn read(
        fields: &mut crate::config::Fields<'_>,
        interval: Duration,
        timeout: Duration,
    ) -> PollPolicy {
        use crate::units::HumaneDuration;
        let interval = fields.value_or("poll_interval", HumaneDuration(interval)).0;
        let timeout = fields.value_or("poll_timeout", HumaneDuration(timeout)).0;
        PollPolicy {
            interval,
            max_interval: interval.max(Duration::from_secs(30)),
            timeout,
        }
    }
}

/// What one read of the job said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Finished well.
    Done,
    /// Finished badly, for this reason.
    Failed(String),
    /// Still running; the job may suggest when to look again.
    Running {
        /// The provider's suggested wait.
        suggested: Option<Duration>,
    },
    /// The provider does not know the job (404): it must be asked again.
    Unknown,
}

/// Reads the job with `read` until it is done or failed, reading again
/// after a failed read.
pub async fn until_done<F, Fut>(
    provider: &str,
    policy: PollPolicy,
    mut read: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<JobState, ProviderError>>,
{
    let started = Instant::now();
    let mut interval = policy.interval;
    loop {
        let wait = match read().await {
            Ok(JobState::Done) => return Ok(()),
            Ok(JobState::Failed(reason)) => {
                return Err(ProviderError::Permanent {
                    message: format!("{provider} job failed: {reason}"),
                });
            }
            Ok(JobState::Unknown) => {
                return Err(ProviderError::Retryable {
                    message: format!(
                        "{provider} does not know the job any more (404); the purge is asked again"
                    ),
                });
            }
            Ok(JobState::Running { suggested }) => suggested.unwrap_or(interval),
            Err(ProviderError::RateLimited {
                retry_after,
                message,
            }) => {
                tracing::warn!(%provider, %message, "reading the job was rate limited; reading the same job again");
                retry_after.unwrap_or(interval).max(interval)
            }
            Err(ProviderError::Retryable { message }) => {
                tracing::warn!(%provider, %message, "reading the job failed; reading the same job again");
                interval
            }
            Err(error @ (ProviderError::Permanent { .. } | ProviderError::Incomplete { .. })) => {
                return Err(error);
            }
        };
        if started.elapsed() >= policy.timeout {
            return Err(ProviderError::Retryable {
                message: format!(
                    "{provider} job not done after {}; the purge is asked again",
                    humantime::format_duration(policy.timeout)
                ),
            });
        }
        tokio::time::sleep(wait.min(policy.max_interval)).await;
        interval = (interval * 2).min(policy.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    const POLICY: PollPolicy = PollPolicy {
        interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(8),
        timeout: Duration::from_secs(60),
    };

    type Read = std::future::Ready<Result<JobState, ProviderError>>;
    type Reads = Arc<Mutex<Vec<Duration>>>;

    /// Replays `answers` (then "running"), recording when each read happened.
    fn replay(answers: Vec<Result<JobState, ProviderError>>) -> (impl FnMut() -> Read, Reads) {
        let start = Instant::now();
        let reads = Reads::default();
        let seen = reads.clone();
        let mut answers = answers.into_iter();
        let read = move || {
            seen.lock().unwrap().push(start.elapsed());
            std::future::ready(
                answers
                    .next()
                    .unwrap_or(Ok(JobState::Running { suggested: None })),
            )
        };
        (read, reads)
    }

    /// Replays `states`, recording when each read happened.
    fn script(states: Vec<JobState>) -> (impl FnMut() -> Read, Reads) {
        replay(states.into_iter().map(Ok).collect())
    }

    fn millis(reads: &Reads) -> Vec<u64> {
        reads
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_without_a_suggestion_and_honours_one() {
        let running = JobState::Running { suggested: None };
        let (read, reads) = script(vec![
            running.clone(),
            running.clone(),
            JobState::Running {
                suggested: Some(Duration::from_millis(500)),
            },
            running,
            JobState::Done,
        ]);
        until_done("test", POLICY, read).await.unwrap();
        let at: Vec<u64> = reads
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect();
        // waits: 1 s, 2 s, the suggested 0.5 s, then 8 s (doubled past the cap: 8 s)
        assert_eq!(at, [0, 1000, 3000, 3500, 11500]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_job_is_permanent_and_a_slow_one_retryable() {
        let (read, _) = script(vec![JobState::Failed("prerender failed".into())]);
        let error = until_done("OCM", POLICY, read).await.unwrap_err();
        assert_eq!(
            error,
            ProviderError::Permanent {
                message: "OCM job failed: prerender failed".into()
            }
        );

        let (read, reads) = script(vec![]);
        let error = until_done("OCM", POLICY, read).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::Retryable { .. }),
            "{error:?}"
        );
        assert!(reads.lock().unwrap().last().unwrap() >= &Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_reads_the_same_job_again_after_the_backoff() {
        let unavailable = ProviderError::Retryable {
            message: "503".into(),
        };
        let (read, reads) = replay(vec![
            Err(unavailable.clone()),
            Err(unavailable),
            Ok(JobState::Done),
        ]);
        until_done("OCM", POLICY, read).await.unwrap();
        assert_eq!(millis(&reads), [0, 1000, 3000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_read_waits_its_retry_after() {
        let limited = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(5)),
            message: "429".into(),
        };
        let (read, reads) = replay(vec![Err(limited), Ok(JobState::Done)]);
        until_done("OCM", POLICY, read).await.unwrap();
        assert_eq!(millis(&reads), [0, 5000]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_job_is_asked_again_and_a_refused_read_is_permanent() {
        let (read, _) = script(vec![JobState::Unknown]);
        let error = until_done("OCM", POLICY, read).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::Retryable { .. }),
            "{error:?}"
        );

        let refused = ProviderError::Permanent {
            message: "401".into(),
        };
        let (read, reads) = replay(vec![Err(refused.clone())]);
        assert_eq!(until_done("OCM", POLICY, read).await.unwrap_err(), refused);
        assert_eq!(reads.lock().unwrap().len(), 1);
    }
}
