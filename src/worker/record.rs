//! What the batch loop writes to the purge history: each provider call,
//! under an id of its own, with the jobs it covered (those merged before
//! included) and its outcome; the URLs a successful call purged carry the
//! call's id on to their verification.

use uuid::Uuid;

use super::after_purge::PurgedUrl;
use super::{TargetWorker, covered};
use crate::action::Action;
use crate::history::Called;
use crate::provider::ProviderError;
use crate::queue::Delivery;

impl TargetWorker {
    /// Records `call` of `batch`: a success, or a failure retried or
    /// dead-lettered (`true`). Returns `urls` tagged with the call's id.
    pub(super) fn record_call(
        &self,
        batch: &[Delivery],
        call: &Action,
        result: Result<(), (bool, &ProviderError)>,
        mut urls: Vec<PurgedUrl>,
    ) -> Vec<PurgedUrl> {
        let id = Uuid::now_v7();
        for url in &mut urls {
            url.call = Some(id);
        }
        if !self.history.is_on() {
            return urls;
        }
        let (outcome, detail) = match result {
            Ok(()) => ("ok", None),
            Err((true, error)) => ("dead", Some(error.to_string())),
            Err((false, error)) => ("retry", Some(error.to_string())),
        };
        self.history.called(Called {
            target: &self.target,
            id,
            action: call,
            jobs: covered(batch).iter().map(Uuid::to_string).collect(),
            outcome,
            detail,
        });
        urls
    }
}
