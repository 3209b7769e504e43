//! The receiver's writer thread: the only owner of the cache's write connection.
//!
//! Requests queue their spans; the thread takes what is queued (up to a batch), writes
//! it in one transaction and answers every request in it. Under load several requests
//! share a commit, which is what keeps the receiver near the importer's throughput.

use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use super::Stats;
use crate::ingest::{BATCH_SPANS, SpanRecord};
use crate::store::Writer;

/// One request's spans on their way to the cache.
pub(super) struct Job {
    pub spans: Vec<SpanRecord>,
    /// The request's share of the queue; released once its spans are committed.
    pub permit: OwnedSemaphorePermit,
    /// `Ok` once committed; the error otherwise.
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Writes until every sender is gone and the queue is empty.
pub(super) fn run(
    mut writer: Writer,
    source: &str,
    mut queue: UnboundedReceiver<Job>,
    stats: &Stats,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut spans = first.spans.len();
        let mut jobs = vec![first];
        while spans < BATCH_SPANS {
            let Ok(job) = queue.try_recv() else { break };
            spans += job.spans.len();
            jobs.push(job);
        }
        let lens: Vec<usize> = jobs.iter().map(|j| j.spans.len()).collect();
        let records: Vec<SpanRecord> = jobs
            .iter_mut()
            .flat_map(|j| std::mem::take(&mut j.spans))
            .collect();
        let outcome = writer
            .ingest(source, records)
            .map_err(|e| format!("cache write failed: {e}"));
        match &outcome {
            Ok(counts) => stats.committed(spans as u64, *counts),
            Err(e) => stats.failed(e.clone()),
        }
        for (job, len) in jobs.into_iter().zip(lens) {
            stats.dequeued(len as u64);
            drop(job.permit);
            let _ = job
                .reply
                .send(outcome.as_ref().map(|_| ()).map_err(Clone::clone));
        }
    }
}
