//! The log writer: applies persistence operations in order, many steps' worth per
//! fsync (group commit), in parallel with replication (F26), and reports back.

use std::sync::Arc;

use concord_sync::queue;
use tokio::task::coop::cooperative;

use super::faults::FaultInjector;
use super::store::{LogStore, PersistOp};
use crate::core::{LogEpoch, LogId, Message, PeerId};

/// One step's persistence work, in the order the core emitted it.
#[derive(Debug, Default)]
pub(crate) struct WriteJob {
    pub(crate) ops: Vec<PersistOp>,
    /// `LogPersisted` reports to make once the ops are durable.
    pub(crate) reports: Vec<(LogEpoch, LogId)>,
    /// Messages to release once the ops are durable.
    pub(crate) release: Vec<(PeerId, Message<PeerId>)>,
}

impl WriteJob {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.reports.is_empty() && self.release.is_empty()
    }
}

/// What the writer tells the driver.
#[derive(Debug)]
pub(crate) enum WriteDone {
    Durable(WriteJob),
    Failed(String),
}

/// Runs until the job channel closes. Coalesces every job already queued into one
/// `persist` call (one fsync), then hands the jobs back as durable, in order.
pub(crate) async fn run_writer(
    store: Arc<dyn LogStore>,
    mut jobs: queue::Receiver<WriteJob>,
    done: queue::UnboundedSender<WriteDone>,
    max_jobs_per_batch: usize,
    faults: Option<Arc<dyn FaultInjector>>,
) {
    let mut batch: Vec<WriteJob> = Vec::new();
    let mut ops: Vec<PersistOp> = Vec::new();
    while let Some(first) = cooperative(jobs.recv()).await {
        batch.push(first);
        let limit = faults
            .as_ref()
            .and_then(|f| f.batch_limit())
            .map_or(max_jobs_per_batch, |limit| {
                limit.clamp(1, max_jobs_per_batch)
            });
        while batch.len() < limit {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        for job in &mut batch {
            ops.append(&mut job.ops);
        }
        if !ops.is_empty() {
            if let Err(reason) = persist(store.as_ref(), &ops, faults.as_deref()).await {
                let _ = done.send(WriteDone::Failed(reason));
                return; // a failed fsync is fatal: never retry it (VERIFICATION.md §5.2)
            }
            ops.clear();
        }
        if let Some(delay) = faults.as_ref().map(|f| f.completion_delay()) {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        for job in batch.drain(..) {
            if done.send(WriteDone::Durable(job)).is_err() {
                return;
            }
        }
    }
}

/// Writes and syncs one batch. Under a fault injector the fsync may come a while after
/// the write, and the injector hears when that window opens and closes.
async fn persist(
    store: &dyn LogStore,
    ops: &[PersistOp],
    faults: Option<&dyn FaultInjector>,
) -> Result<(), String> {
    let Some(faults) = faults else {
        return store.persist(ops);
    };
    store.write(ops)?;
    let delay = faults.fsync_delay();
    if delay.is_zero() {
        return store.sync();
    }
    faults.write_window(Some(ops));
    tokio::time::sleep(delay).await;
    let synced = store.sync();
    faults.write_window(None);
    synced
}
