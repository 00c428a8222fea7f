//! The `log` provider: writes what it would purge to the log and succeeds.
//! For dry runs, demos and the quick start; it accepts every action kind.

use std::sync::Arc;

use async_trait::async_trait;

use super::registration::{Context, Registration};
use super::{Provider, ProviderError};
use crate::action::Action;
use crate::capability::Capabilities;
use crate::config::{Fields, Read};
use crate::job::TargetId;

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities::any("log"),
    build,
};

/// A log target has no keys of its own.
fn build(_: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    Ok(Arc::new(LogProvider {
        target: context.target.clone(),
    }))
}

/// The adapter.
struct LogProvider {
    target: TargetId,
}

#[async_trait]
impl Provider for LogProvider {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let action = serde_json::to_string(action).map_err(|e| ProviderError::Permanent {
            message: format!("the action cannot be written as JSON: {e}"),
        })?;
        tracing::info!(target_id = %self.target, %action, "purge (log provider)");
        Ok(())
    }

    fn describe(&self) -> String {
        "writes purges to the log".into()
    }
}
