//! The worker's spans (with the `otel` feature; nothing without it): one
//! per job of a batch, each the child of the trace its message came with
//! (so that the trace of an event goes on from the receiver through the
//! broker), and one for the batch, the child of its first job's and linked
//! to the others' (at most [`MAX_LINKS`]). The provider calls' spans are
//! the batch's children.

use tracing::Span;

use crate::job::TargetId;
use crate::queue::Delivery;

/// The most jobs a batch's span links to.
#[cfg(feature = "otel")]
pub const MAX_LINKS: usize = 128;

/// The spans of a batch: the batch's, and its jobs' (which end when they
/// are dropped, once the batch is settled).
#[cfg(feature = "otel")]
pub(super) fn for_batch(target: &TargetId, batch: &[Delivery], calls: usize) -> (Span, Vec<Span>) {
    use crate::telemetry::trace::{follow, link, trace_span};
    let jobs: Vec<Span> = batch
        .iter()
        .map(|delivery| {
            let job = &delivery.job;
            let span = trace_span!(parent: None, "job", job_id = %job.id, target_id = %target, attempt = job.attempt, repurge = job.repurge);
            follow(&span, &delivery.trace);
            span
        })
        .collect();
    let parent = jobs.first().and_then(Span::id);
    let span = trace_span!(parent: parent, "batch", target_id = %target, jobs = batch.len(), calls);
    for job in jobs.iter().skip(1).take(MAX_LINKS) {
        link(&span, job);
    }
    (span, jobs)
}

/// Without the `otel` feature: no span.
#[cfg(not(feature = "otel"))]
pub(super) fn for_batch(_: &TargetId, _: &[Delivery], _: usize) -> (Span, Vec<Span>) {
    (Span::none(), Vec::new())
}
