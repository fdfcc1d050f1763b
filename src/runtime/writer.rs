//! The log writer: applies persistence operations in order, many steps' worth per
//! fsync (group commit), in parallel with replication (F26), and reports back.

use std::sync::Arc;

use concord_sync::queue;
use tokio::task::coop::cooperative;

use super::faults::FaultInjector;
use super::store::{LogStore, PersistOp, StoredEntry};
use crate::core::{Flush, PeerId, PersistSeq};
use crate::storage::StorageError;

/// One step's persistence work, in the order the core issued it: a [`Flush`] of the
/// driver's [`PersistQueue`](crate::core::PersistQueue).
pub(crate) type WriteJob = Flush<PeerId, StoredEntry>;

/// What the writer tells the driver.
#[derive(Debug)]
pub(crate) enum WriteDone {
    /// Every write up to this sequence number is durable.
    Durable(PersistSeq),
    Failed(StorageError),
}

/// Runs until the job channel closes. Coalesces every job already queued into one
/// `persist` call (one fsync), then reports the last write of the batch durable.
pub(crate) async fn run_writer(
    store: Arc<dyn LogStore>,
    mut jobs: queue::Receiver<WriteJob>,
    done: queue::UnboundedSender<WriteDone>,
    max_jobs_per_batch: usize,
    faults: Option<Arc<dyn FaultInjector>>,
) {
    // Reused from batch to batch (its capacity survives), so merging the jobs of a
    // batch does not reallocate on the hot path.
    let mut writes: Vec<PersistOp> = Vec::new();
    while let Some(first) = cooperative(jobs.recv()).await {
        let limit = faults
            .as_ref()
            .and_then(|f| f.batch_limit())
            .map_or(max_jobs_per_batch, |limit| {
                limit.clamp(1, max_jobs_per_batch)
            });
        let mut seq = first.seq;
        writes.extend(first.writes);
        let mut jobs_in_batch = 1;
        while jobs_in_batch < limit {
            match jobs.try_recv() {
                Ok(job) => {
                    seq = seq.max(job.seq);
                    writes.extend(job.writes);
                    jobs_in_batch += 1;
                }
                Err(_) => break,
            }
        }
        let result = if faults.is_none() && store.blocks() {
            // Off the async workers: an fsync takes milliseconds. The buffer comes back
            // with the result, keeping its capacity.
            let store = store.clone();
            let batch = std::mem::take(&mut writes);
            match tokio::task::spawn_blocking(move || {
                let result = store.persist(&batch);
                (batch, result)
            })
            .await
            {
                Ok((batch, result)) => {
                    writes = batch;
                    result
                }
                Err(error) => Err(StorageError::Fatal {
                    store: "log writer".into(),
                    reason: format!("the write's thread failed: {error}"),
                }),
            }
        } else {
            // Inline: an in-memory store, or a simulation, whose fault injector times the
            // write and the fsync on the simulated clock (a thread would make the run
            // depend on the OS scheduler).
            persist(store.as_ref(), &writes, faults.as_deref()).await
        };
        writes.clear();
        if let Err(reason) = result {
            let _ = done.send(WriteDone::Failed(reason));
            return; // a failed fsync is fatal: never retry it (VERIFICATION.md §5.2)
        }
        if let Some(delay) = faults.as_ref().map(|f| f.completion_delay()) {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        if done.send(WriteDone::Durable(seq)).is_err() {
            return;
        }
    }
}

/// Writes and syncs one batch. Under a fault injector the fsync may come a while after
/// the write, and the injector hears when that window opens and closes.
async fn persist(
    store: &dyn LogStore,
    ops: &[PersistOp],
    faults: Option<&dyn FaultInjector>,
) -> Result<(), StorageError> {
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
