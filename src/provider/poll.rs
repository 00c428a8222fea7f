//! Polling an asynchronous provider job to completion, for the providers
//! whose purge is a job (Oracle Content Management, the cache task API): the
//! interval the job suggests is honoured, else the interval backs off
//! (doubling up to a cap); a job still running past the time limit is a
//! retryable failure, so the purge is asked again later.

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

/// Reads the job with `read` until it is done or failed.
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
        match read().await? {
            JobState::Done => return Ok(()),
            JobState::Failed(reason) => {
                return Err(ProviderError::Permanent {
                    message: format!("{provider} job failed: {reason}"),
                });
            }
            JobState::Running { suggested } => {
                if started.elapsed() >= policy.timeout {
                    return Err(ProviderError::Retryable {
                        message: format!(
                            "{provider} job still running after {}",
                            humantime::format_duration(policy.timeout)
                        ),
                    });
                }
                let wait = suggested.unwrap_or(interval).min(policy.max_interval);
                tokio::time::sleep(wait).await;
                interval = (interval * 2).min(policy.max_interval);
            }
        }
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

    /// Replays `states`, recording when each read happened.
    fn script(states: Vec<JobState>) -> (impl FnMut() -> Read, Reads) {
        let start = Instant::now();
        let reads = Reads::default();
        let seen = reads.clone();
        let mut states = states.into_iter();
        let read = move || {
            seen.lock().unwrap().push(start.elapsed());
            std::future::ready(Ok(states
                .next()
                .unwrap_or(JobState::Running { suggested: None })))
        };
        (read, reads)
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
}
