//! The log writer: applies persistence operations in order, many steps' worth per
//! fsync (group commit), in parallel with replication (F26), and reports back.

use std::sync::{Arc, Mutex, PoisonError};

use concord_sync::queue;
use tokio::task::coop::cooperative;

use super::faults::FaultInjector;
use super::inbox::Rung;
use super::snapshot_store::{SnapshotSink, SnapshotStore};
use super::store::{LogStore, PersistOp};
use crate::core::{Flush, LogId, LogIndex, PeerId, PersistSeq, SnapshotMeta, Write};
use crate::metrics::{NodeMetrics, Stopwatch};
use crate::storage::LogEntry;
use crate::storage::StorageError;

/// One step's persistence work, in the order the core issued it: a [`Flush`] of the
/// driver's [`PersistQueue`](crate::core::PersistQueue).
pub(crate) type WriteJob = Flush<PeerId, LogEntry>;

/// What the log writer is asked to do, in order.
pub(crate) enum WriterJob {
    /// Persistence writes, reported durable once they are.
    Write(WriteJob),
    /// Delete the entries through `through`, covered by the durable snapshot ending at
    /// `snapshot` (the core's `CompactLog`). Not reported: need not be durable.
    Compact { through: LogIndex, snapshot: LogId },
}

impl WriterJob {
    /// Whether the job may delete entries a read still needs: a compaction, or a
    /// snapshot install (which discards a log that does not continue the snapshot).
    pub(crate) fn discards_entries(&self) -> bool {
        match self {
            WriterJob::Write(job) => has_install(job),
            WriterJob::Compact { .. } => true,
        }
    }
}

/// A fetched snapshot waiting for its `InstallSnapshot` write (shared by the fetch,
/// which stages it, and the writer, which commits it in the write order).
pub(crate) type Staged = Arc<Mutex<Option<SnapshotSink>>>;

/// The writer's snapshot equipment.
#[derive(Clone)]
pub(crate) struct WriterSnapshots {
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) staged: Staged,
}

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
    mut jobs: queue::Receiver<WriterJob>,
    done: Rung<queue::UnboundedSender<WriteDone>>,
    max_jobs_per_batch: usize,
    faults: Option<Arc<dyn FaultInjector>>,
    snapshots: Option<WriterSnapshots>,
    metrics: NodeMetrics,
) {
    // Reused from batch to batch (its capacity survives), so merging the jobs of a
    // batch does not reallocate on the hot path.
    let mut writes: Vec<PersistOp> = Vec::new();
    // A job taken while coalescing that must go alone (a compaction, an install).
    let mut held: Option<WriterJob> = None;
    loop {
        let next = match held.take() {
            Some(job) => job,
            None => match cooperative(jobs.recv()).await {
                Some(job) => job,
                None => break,
            },
        };
        let first = match next {
            WriterJob::Compact { through, snapshot } => {
                let inline = faults.is_some() || !store.blocks();
                let store = store.clone();
                let started = metrics.stopwatch();
                let compacted = blocking(inline, move || store.compact(through, snapshot)).await;
                if let Err(error) = compacted {
                    let _ = done.send(WriteDone::Failed(error));
                    return;
                }
                metrics.truncate_log_prefix(started.elapsed());
                continue;
            }
            WriterJob::Write(job) if has_install(&job) => {
                let seq = job.seq;
                let result = persist_with_installs(
                    &store,
                    snapshots.as_ref(),
                    job.writes,
                    faults.as_deref(),
                )
                .await;
                if let Err(reason) = result {
                    let _ = done.send(WriteDone::Failed(reason));
                    return;
                }
                if done.send(WriteDone::Durable(seq)).is_err() {
                    return;
                }
                continue;
            }
            WriterJob::Write(job) => job,
        };
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
                Ok(WriterJob::Write(job)) if !has_install(&job) => {
                    seq = seq.max(job.seq);
                    writes.extend(job.writes);
                    jobs_in_batch += 1;
                }
                Ok(job) => {
                    held = Some(job);
                    break;
                }
                Err(_) => break,
            }
        }
        let stats = WriteStats::of(&writes, &metrics);
        let started = metrics.stopwatch();
        let result = if faults.is_none() && store.blocks() {
            // Off the async workers: an fsync takes milliseconds. The buffer comes back
            // with the result, keeping its capacity.
            let store = store.clone();
            let batch = std::mem::take(&mut writes);
            blocking(false, move || {
                let result = store.persist(&batch);
                Ok((batch, result))
            })
            .await
            .and_then(|(batch, result)| {
                writes = batch;
                result
            })
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
        stats.record(&metrics, started);
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

/// What a batch of writes holds, for the metrics (counted only when they are on).
#[derive(Default)]
struct WriteStats {
    entries: usize,
    bytes: u64,
    truncations: u64,
}

impl WriteStats {
    fn of(writes: &[PersistOp], metrics: &NodeMetrics) -> WriteStats {
        let mut stats = WriteStats::default();
        for write in writes.iter().filter(|_| metrics.enabled()) {
            match write {
                Write::Append(appended) => {
                    stats.entries += appended.len();
                    stats.bytes += appended.iter().map(|e| e.payload.len() as u64).sum::<u64>();
                }
                Write::Truncate(_) => stats.truncations += 1,
                Write::HardState(_) | Write::InstallSnapshot(_) => {}
            }
        }
        stats
    }

    fn record(&self, metrics: &NodeMetrics, started: Stopwatch) {
        metrics.append_logs(started.elapsed(), self.entries, self.bytes);
        if self.truncations > 0 {
            metrics.truncate_log_suffix(self.truncations);
        }
    }
}

/// The log writer run inside the driver, for a store that never blocks (in memory) and
/// no fault injection: there is no IO to overlap with replication, so a writer task
/// would only add two task hand-offs to every step that writes — on a follower, both on
/// the commit's critical path. The same writes in the same order as the writer task's;
/// the driver reports each job durable (`Input::Persisted`) as soon as it returns.
pub(crate) struct InlineWriter {
    store: Arc<dyn LogStore>,
    snapshots: Option<WriterSnapshots>,
    metrics: NodeMetrics,
}

impl InlineWriter {
    /// `Some` when this node's writes may run inline: the store never blocks and no
    /// fault injector times them.
    pub(crate) fn for_store(
        store: &Arc<dyn LogStore>,
        faults: Option<&Arc<dyn FaultInjector>>,
        snapshots: Option<WriterSnapshots>,
        metrics: &NodeMetrics,
    ) -> Option<InlineWriter> {
        (faults.is_none() && !store.blocks()).then(|| InlineWriter {
            store: store.clone(),
            snapshots,
            metrics: metrics.clone(),
        })
    }

    /// Makes the job's writes durable, in order, and returns its sequence number —
    /// unless it installs a snapshot (which waits on the snapshot store): that job comes
    /// back untouched, for [`InlineWriter::write_installing`].
    pub(crate) fn write(
        &self,
        job: WriteJob,
    ) -> Result<Result<PersistSeq, StorageError>, WriteJob> {
        if has_install(&job) {
            return Err(job);
        }
        let stats = WriteStats::of(&job.writes, &self.metrics);
        let started = self.metrics.stopwatch();
        if let Err(error) = self.store.persist(&job.writes) {
            return Ok(Err(error));
        }
        stats.record(&self.metrics, started);
        Ok(Ok(job.seq))
    }

    /// [`InlineWriter::write`] for a job that installs a snapshot.
    pub(crate) async fn write_installing(&self, job: WriteJob) -> Result<PersistSeq, StorageError> {
        let seq = job.seq;
        persist_with_installs(&self.store, self.snapshots.as_ref(), job.writes, None).await?;
        Ok(seq)
    }

    /// Deletes the entries through `through`, covered by the snapshot ending at `snapshot`.
    pub(crate) fn compact(&self, through: LogIndex, snapshot: LogId) -> Result<(), StorageError> {
        let started = self.metrics.stopwatch();
        self.store.compact(through, snapshot)?;
        self.metrics.truncate_log_prefix(started.elapsed());
        Ok(())
    }
}

pub(crate) fn has_install(job: &WriteJob) -> bool {
    job.writes
        .iter()
        .any(|write| matches!(write, Write::InstallSnapshot(_)))
}

/// Runs `f` on tokio's blocking pool (an fsync takes milliseconds), or inline when
/// `inline` (an in-memory store, or a simulation, which must not depend on the OS
/// scheduler). A thread that fails is a fatal storage error.
async fn blocking<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    if inline {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|error| {
            Err(StorageError::Fatal {
                store: "log writer".into(),
                reason: format!("the write's thread failed: {error}"),
            })
        })
}

/// A step's writes that include a snapshot install: the writes before it are made
/// durable first (a durable snapshot must never sit beside a log whose truncation of a
/// conflicting entry was lost), then the fetched snapshot is committed, then the rest.
async fn persist_with_installs(
    store: &Arc<dyn LogStore>,
    snapshots: Option<&WriterSnapshots>,
    writes: Vec<PersistOp>,
    faults: Option<&dyn FaultInjector>,
) -> Result<(), StorageError> {
    let mut segment = Vec::new();
    for write in writes {
        let Write::InstallSnapshot(meta) = write else {
            segment.push(write);
            continue;
        };
        if !segment.is_empty() {
            persist(store.as_ref(), &std::mem::take(&mut segment), faults).await?;
        }
        let Some(snapshots) = snapshots.cloned() else {
            return Err(StorageError::Fatal {
                store: "log writer".into(),
                reason: "asked to install a snapshot, but the node has no snapshot store".into(),
            });
        };
        let inline = faults.is_some() || !store.blocks();
        blocking(inline, move || install(&snapshots, &meta)).await?;
    }
    if !segment.is_empty() {
        persist(store.as_ref(), &segment, faults).await?;
    }
    Ok(())
}

/// Commits the staged snapshot `meta` — unless a snapshot at or beyond its index is
/// durable already, which is kept (the core's `InstallSnapshot` contract).
fn install(snapshots: &WriterSnapshots, meta: &SnapshotMeta<PeerId>) -> Result<(), StorageError> {
    let staged = snapshots
        .staged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take_if(|sink| sink.last_included() == meta.last_included);
    if let Some(latest) = snapshots.store.latest()? {
        if latest.last_included.index >= meta.last_included.index {
            return Ok(());
        }
    }
    let Some(sink) = staged else {
        return Err(StorageError::Fatal {
            store: "snapshot".into(),
            reason: format!(
                "the snapshot through {} was reported fetched but is not staged",
                meta.last_included
            ),
        });
    };
    snapshots.store.commit(sink).map(|_| ())
}

/// Writes and syncs one batch. Under a fault injector the write may take a while, the
/// fsync may come a while after it, and the injector hears when that window opens and
/// closes.
async fn persist(
    store: &dyn LogStore,
    ops: &[PersistOp],
    faults: Option<&dyn FaultInjector>,
) -> Result<(), StorageError> {
    let Some(faults) = faults else {
        return store.persist(ops);
    };
    let delay = faults.write_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
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
