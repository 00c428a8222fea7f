//! One [`Shutdown`] value, passed explicitly: a cancellation token every
//! long-running task watches, and a tracker to wait until they all ended.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The process's stop signal and its running tasks.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// A fresh, untriggered shutdown.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token tasks watch.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The tracker tasks are spawned on.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Asks every task to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Waits until stop was asked.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// Waits until every tracked task ended.
    pub async fn wait_for_tasks(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Triggers on Ctrl-C or SIGTERM.
    pub fn on_signals(&self) {
        let token = self.token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop requested; finishing calls in progress");
            token.cancel();
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
