//! The FSM caller: applies committed batches to the state machine in order, answers the
//! clients waiting on them, and delivers role notifications in log order.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use concord_sync::{completion, queue};
use tokio::task::coop::cooperative;
use tokio::task::JoinHandle;

use super::error::{
    ApplyError, NodeFailure, PartialApply, SnapshotError, SnapshotFailure, StateMachineError,
};
use super::inbox::Rung;
use super::snapshot_store::SnapshotStore;
use super::state_machine::{CommittedEntry, LeaderChangeContext, SnapshotContext, StateMachine};
use super::transfer::SnapshotEvent;
use crate::core::{ConfigurationEntry, LogId, LogIndex, PeerId, SnapshotMeta};
use crate::metrics::NodeMetrics;
use crate::storage::SnapshotReader;

/// The result a client gets for an applied task.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied<R> {
    /// Where the task's entry sits in the log.
    pub log_id: LogId,
    /// What the state machine returned.
    pub response: R,
}

pub(crate) type Completion<R> = completion::Completer<Result<Applied<R>, ApplyError>>;

/// A committed entry on its way to the state machine.
pub(crate) enum ApplyItem<S: StateMachine> {
    Client {
        entry: CommittedEntry<S::Context>,
        completion: Option<Completion<S::Response>>,
        /// The task's `on_committed` hook (proposing node only): run just before the
        /// entry is applied; a panic in it is contained and ignored.
        on_committed: Option<Box<dyn FnOnce(LogId) + Send>>,
    },
    Configuration(LogId, ConfigurationEntry<PeerId>),
    Blank(LogId),
}

impl<S: StateMachine> ApplyItem<S> {
    fn index(&self) -> LogIndex {
        match self {
            ApplyItem::Client { entry, .. } => entry.log_id.index,
            ApplyItem::Configuration(log_id, _) | ApplyItem::Blank(log_id) => log_id.index,
        }
    }
}

pub(crate) enum FsmJob<S: StateMachine> {
    Apply(Vec<ApplyItem<S>>),
    LeaderStart(LeaderChangeContext),
    LeaderStop(LeaderChangeContext),
    StartFollowing(LeaderChangeContext),
    StopFollowing(LeaderChangeContext),
    /// Save a snapshot of the state as it is after the entries handed over so far.
    Save(SnapshotMeta<PeerId>),
    /// Replace the state with the latest snapshot, which must be this one.
    Load(SnapshotMeta<PeerId>),
    /// Run a read on the state as it is after the entries handed over so far (a panic
    /// in it is caught: its caller hears that the node is shutting down).
    Read(Box<dyn FnOnce(&S) + Send>),
}

pub(crate) enum FsmDone {
    Applied(LogIndex),
    /// The state machine now holds the snapshot's state, through this index.
    Restored(LogIndex),
    Failed(NodeFailure),
}

/// The FSM caller's snapshot equipment.
pub(crate) struct FsmSnapshots {
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) saved: Rung<tokio::sync::mpsc::UnboundedSender<SnapshotEvent>>,
}

/// Where the state machine's caller runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FsmRunner {
    /// A thread of its own: a state machine that blocks (`StateMachine::blocks`) may
    /// wait on its own IO without holding up an async worker. A plain thread, not
    /// `spawn_blocking`: a blocking task that lives as long as the node would stop a
    /// paused tokio clock from advancing (`tokio::time::pause`), and hang the tests of
    /// every application that uses one.
    Thread,
    /// In the driver itself: a state machine that does not block. No task hand-off to
    /// apply a batch and none to report it applied; the driver gets the [`InlineFsm`].
    Inline,
    /// A task: under a simulation, which must not depend on the OS scheduler (snapshot
    /// saves then run inline too, for determinism).
    Task,
}

impl FsmRunner {
    /// The runner for a state machine that does (`blocks`) or does not block, in a
    /// simulation (`simulated`: a fault injector is set) or not.
    pub(crate) fn new(blocks: bool, simulated: bool) -> FsmRunner {
        match (simulated, blocks) {
            (true, _) => FsmRunner::Task,
            (false, true) => FsmRunner::Thread,
            (false, false) => FsmRunner::Inline,
        }
    }
}

/// How the state machine's caller runs.
pub(crate) struct FsmConfig {
    /// Most entries handed over in one `on_apply_batch`.
    pub(crate) apply_batch: usize,
    pub(crate) runner: FsmRunner,
    /// Where the apply measurements go.
    pub(crate) metrics: NodeMetrics,
}

/// Starts the FSM caller where `config.runner` says. Either way the node gets the state
/// machine back once the driver is gone.
pub(crate) fn spawn_fsm<S: StateMachine>(
    state_machine: S,
    jobs: queue::Receiver<FsmJob<S>>,
    done: Rung<queue::UnboundedSender<FsmDone>>,
    config: FsmConfig,
    snapshots: Option<FsmSnapshots>,
) -> std::io::Result<(FsmHandle<S>, Option<InlineFsm<S>>)> {
    let FsmConfig {
        apply_batch,
        runner,
        metrics,
    } = config;
    let done = match runner {
        // The driver runs this caller itself and collects its reports after each job: a
        // report through the queue would wake the driver's own task and cost it a pass
        // of its loop for every apply.
        FsmRunner::Inline => Reports::Local {
            reports: Vec::new(),
            _queue: done,
        },
        FsmRunner::Task | FsmRunner::Thread => Reports::Queue(done),
    };
    let caller = FsmCaller {
        state_machine,
        failed: None,
        done,
        apply_batch,
        snapshots,
        save_thread: runner != FsmRunner::Task,
        saving: Vec::new(),
        metrics,
        position: LogIndex(0),
        batch: ApplyBatch::default(),
    };
    match runner {
        FsmRunner::Inline => {
            let (result, joined) = tokio::sync::oneshot::channel();
            return Ok((
                FsmHandle::Inline(joined),
                Some(InlineFsm { caller, result }),
            ));
        }
        FsmRunner::Task => {
            return Ok((FsmHandle::Task(tokio::spawn(caller.run(jobs))), None));
        }
        FsmRunner::Thread => {}
    }
    let (finished, result) = tokio::sync::oneshot::channel();
    // The thread runs inside the node's runtime context, so a state machine may still
    // use `tokio::spawn`, `Handle::current()` or tokio's clock from its callbacks.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("concord-fsm".into())
        .spawn(move || {
            let _context = runtime.enter();
            let _ = finished.send(caller.run_blocking(&runtime, jobs));
        })?;
    Ok((FsmHandle::Thread(result), None))
}

/// The FSM caller run by the driver itself (`FsmRunner::Inline`). Its reports are what
/// a task's would send to the completion queue, handed back by each call instead.
pub(crate) struct InlineFsm<S: StateMachine> {
    caller: FsmCaller<S>,
    result: tokio::sync::oneshot::Sender<Finished<S>>,
}

impl<S: StateMachine> InlineFsm<S> {
    /// Runs `job`; appends its reports to `reports`, in order.
    pub(crate) fn handle(&mut self, job: FsmJob<S>, reports: &mut Vec<FsmDone>) {
        self.caller.handle(job);
        if let Reports::Local { reports: local, .. } = &mut self.caller.done {
            reports.append(local);
        }
    }

    /// The driver stops: `on_shutdown`, and the state machine back to `Node::join`.
    pub(crate) fn finish(self) {
        let _ = self.result.send(self.caller.finish());
    }
}

/// Where the FSM caller runs; joined to get the state machine back.
pub(crate) enum FsmHandle<S> {
    Task(JoinHandle<Finished<S>>),
    Thread(tokio::sync::oneshot::Receiver<Finished<S>>),
    Inline(tokio::sync::oneshot::Receiver<Finished<S>>),
}

impl<S> FsmHandle<S> {
    /// Waits for the FSM caller to finish (after the driver is gone), and then for the
    /// snapshot saves it started to end: a stopped node leaves no write to its snapshot
    /// store behind (a store opened again on the same directory, by a node restarted in
    /// the same process, would otherwise clean up the temporary directory a save still
    /// writes into and then renames).
    pub(crate) async fn join(self) -> Option<S> {
        let finished = match self {
            FsmHandle::Task(task) => task.await.ok(),
            FsmHandle::Thread(result) | FsmHandle::Inline(result) => result.await.ok(),
        }?;
        for save in finished.saving {
            save.ended().await;
        }
        Some(finished.state_machine)
    }
}

/// What a stopped FSM caller hands back: the state machine, and the snapshot saves
/// still running on threads of their own.
pub(crate) struct Finished<S> {
    state_machine: S,
    saving: Vec<SaveThread>,
}

/// A snapshot save running on a thread of its own (`concord-snapshot`).
struct SaveThread {
    /// Closed when the thread's closure is gone — returned or unwound.
    alive: tokio::sync::oneshot::Receiver<()>,
}

impl SaveThread {
    /// Whether the save has ended (without waiting).
    fn has_ended(&mut self) -> bool {
        matches!(
            self.alive.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        )
    }

    /// Waits for the save to end. Not a thread join: it parks no thread, and needs no
    /// timer (a paused tokio clock does not hold it up).
    async fn ended(self) {
        let _ = self.alive.await;
    }
}

/// Where an FSM caller's reports go.
enum Reports {
    /// The driver's completion queue (a caller on a task or a thread of its own).
    Queue(Rung<queue::UnboundedSender<FsmDone>>),
    /// Kept until the driver, which runs this caller itself, takes them after the job.
    /// The queue's sender is held so that the driver's receiver stays open (pending,
    /// never closed) — its snapshot saves still report through their own channel.
    Local {
        reports: Vec<FsmDone>,
        _queue: Rung<queue::UnboundedSender<FsmDone>>,
    },
}

impl Reports {
    fn send(&mut self, done: FsmDone) {
        match self {
            Reports::Queue(queue) => {
                let _ = queue.send(done);
            }
            Reports::Local { reports, .. } => reports.push(done),
        }
    }
}

struct FsmCaller<S: StateMachine> {
    state_machine: S,
    /// Set once the state machine failed: nothing more is applied until a restart.
    failed: Option<NodeFailure>,
    done: Reports,
    apply_batch: usize,
    snapshots: Option<FsmSnapshots>,
    metrics: NodeMetrics,
    /// Whether a save's second half runs on a thread of its own (false in simulations,
    /// which run it inline for determinism).
    save_thread: bool,
    /// The saves started on threads of their own and not seen to end yet (those that
    /// ended are dropped at the next save); the node's `join` waits for them.
    saving: Vec<SaveThread>,
    /// The last index the state machine's state includes (applied, or loaded from a
    /// snapshot). A save must be taken exactly there, and entries at or below it are
    /// not applied again.
    position: LogIndex,
    /// The buffers every apply batch is gathered in (empty between jobs).
    batch: ApplyBatch<S>,
}

/// A batch of client entries for `on_apply_batch`, with their clients' completions: kept
/// by the caller and reused, so a batch allocates nothing (a fresh pair per job cost two
/// allocations, and reallocations as it grew).
struct ApplyBatch<S: StateMachine> {
    entries: Vec<CommittedEntry<S::Context>>,
    completions: Vec<Option<Completion<S::Response>>>,
}

impl<S: StateMachine> Default for ApplyBatch<S> {
    fn default() -> Self {
        ApplyBatch {
            entries: Vec::new(),
            completions: Vec::new(),
        }
    }
}

impl<S: StateMachine> FsmCaller<S> {
    async fn run(mut self, mut jobs: queue::Receiver<FsmJob<S>>) -> Finished<S> {
        while let Some(job) = cooperative(jobs.recv()).await {
            self.handle(job);
        }
        self.finish()
    }

    /// On the caller's own thread: waits for each job through the runtime's handle
    /// (which parks this thread, not a worker).
    fn run_blocking(
        mut self,
        runtime: &tokio::runtime::Handle,
        mut jobs: queue::Receiver<FsmJob<S>>,
    ) -> Finished<S> {
        while let Some(job) = runtime.block_on(jobs.recv()) {
            self.handle(job);
        }
        self.finish()
    }

    fn handle(&mut self, job: FsmJob<S>) {
        if let Some(failure) = &self.failed {
            match job {
                FsmJob::Apply(items) => answer_failed(items, failure),
                FsmJob::Save(meta) => {
                    let failure = failure.clone();
                    self.save_ended(meta.last_included, SnapshotError::NodeFailed { failure });
                }
                _ => {}
            }
            return;
        }
        let job = match job {
            FsmJob::Save(meta) => {
                self.save(meta);
                return;
            }
            FsmJob::Load(meta) => {
                match self.load(&meta) {
                    Ok(index) => {
                        self.position = index;
                        self.done.send(FsmDone::Restored(index));
                    }
                    Err(failure) => self.failed_with(failure),
                }
                return;
            }
            FsmJob::Read(read) => {
                let state_machine = &self.state_machine;
                let _ = catch_unwind(AssertUnwindSafe(move || read(state_machine)));
                return;
            }
            job => job,
        };
        let state_machine = &mut self.state_machine;
        let (applied, failure) = match job {
            FsmJob::Apply(items) => {
                // Entries a loaded snapshot already covers are not applied again.
                // Items come in log order, so the covered ones are a prefix.
                let position = self.position;
                let mut items = items;
                debug_assert!(items.is_sorted_by_key(ApplyItem::index));
                let split = items.partition_point(|item| item.index() <= position);
                let covered = split.checked_sub(1).map(|last| items[last].index());
                items.drain(..split);
                let (started, count) = (self.metrics.stopwatch(), items.len());
                let (applied, failure) =
                    apply_items(state_machine, items, self.apply_batch, &mut self.batch);
                if count > 0 {
                    self.metrics.fsm_apply_tasks(started.elapsed(), count);
                }
                (applied.or(covered), failure)
            }
            FsmJob::LeaderStart(context) => {
                (None, guarded(|| state_machine.on_leader_start(&context)))
            }
            FsmJob::LeaderStop(context) => {
                (None, guarded(|| state_machine.on_leader_stop(&context)))
            }
            FsmJob::StartFollowing(context) => {
                (None, guarded(|| state_machine.on_start_following(&context)))
            }
            FsmJob::StopFollowing(context) => {
                (None, guarded(|| state_machine.on_stop_following(&context)))
            }
            FsmJob::Save(_) | FsmJob::Load(_) | FsmJob::Read(_) => (None, None),
        };
        if let Some(index) = applied {
            self.position = self.position.max(index);
            self.done.send(FsmDone::Applied(index));
        }
        if let Some(failure) = failure {
            self.failed_with(failure);
        }
    }

    fn failed_with(&mut self, failure: NodeFailure) {
        let state_machine = &mut self.state_machine;
        let _ = catch_unwind(AssertUnwindSafe(|| state_machine.on_error(&failure)));
        self.done.send(FsmDone::Failed(failure.clone()));
        self.failed = Some(failure);
    }

    fn save_failed(&self, last_included: LogId, failure: SnapshotFailure) {
        self.save_ended(last_included, SnapshotError::Failed { failure });
    }

    fn save_ended(&self, last_included: LogId, error: SnapshotError) {
        if let Some(snapshots) = &self.snapshots {
            let _ = snapshots.saved.send(SnapshotEvent::Saved {
                last_included,
                result: Err(error),
            });
        }
    }

    /// Captures the state (here, in log order) and writes and commits the snapshot off
    /// this thread. The outcome goes to the driver as a `SaveDone`; a failed save fails
    /// only the snapshot.
    fn save(&mut self, meta: SnapshotMeta<PeerId>) {
        let Some(snapshots) = &self.snapshots else {
            return;
        };
        let last_included = meta.last_included;
        if last_included.index != self.position {
            // The state is not at the entry the snapshot would be labelled with (an
            // apply was lost to a failure): saving it would be a lie.
            let reason = SnapshotFailure::Internal(format!(
                "the state machine is at {}, not at the snapshot's {}",
                self.position, last_included.index
            ));
            self.save_failed(last_included, reason);
            return;
        }
        let report = snapshots.saved.clone();
        let context = SnapshotContext {
            last_included,
            configuration: meta.configuration.clone(),
        };
        let state_machine = &mut self.state_machine;
        let captured = catch_unwind(AssertUnwindSafe(|| {
            state_machine.on_snapshot_save(&context)
        }))
        .unwrap_or_else(|panic| {
            Err(StateMachineError::new(format!(
                "on_snapshot_save panicked: {}",
                panic_message(&panic)
            )))
        });
        let write = match captured {
            Ok(write) => write,
            Err(error) => {
                self.save_failed(last_included, error.into());
                return;
            }
        };
        let store = snapshots.store.clone();
        // Dropped with the closure, however it ends: the save's end, to `join`.
        let (alive, ended) = tokio::sync::oneshot::channel::<()>();
        let finish = move || {
            let _alive = alive;
            let result = write_snapshot(store.as_ref(), meta, write)
                .map_err(|failure| SnapshotError::Failed { failure });
            let _ = report.send(SnapshotEvent::Saved {
                last_included,
                result,
            });
        };
        if !self.save_thread {
            finish();
            return;
        }
        // The node's runtime context comes along, as for the FSM thread itself.
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name("concord-snapshot".into())
            .spawn(move || {
                let _context = runtime.enter();
                finish();
            });
        match spawned {
            Ok(_) => {
                self.saving.retain_mut(|save| !save.has_ended());
                self.saving.push(SaveThread { alive: ended });
            }
            Err(error) => self.save_failed(
                last_included,
                SnapshotFailure::Resources(format!("cannot start the snapshot thread: {error}")),
            ),
        }
    }

    /// Loads the snapshot `meta` into the state machine. Should the store no longer
    /// hold it (newer installs committed meanwhile), the latest snapshot is loaded if it
    /// is newer: it is committed state too, and the entries it covers are then skipped.
    /// Returns the index the state machine is at.
    fn load(&mut self, meta: &SnapshotMeta<PeerId>) -> Result<LogIndex, NodeFailure> {
        let Some(snapshots) = &self.snapshots else {
            return Err(NodeFailure::Internal(
                "asked to load a snapshot, but the node has no snapshot store".into(),
            ));
        };
        let wanted = meta.last_included;
        let source = match snapshots.store.open_at(wanted) {
            Ok(Some(source)) => source,
            Ok(None) => match snapshots.store.open_latest() {
                Ok(Some(latest)) if latest.meta().last_included.index > wanted.index => latest,
                Ok(_) => {
                    return Err(NodeFailure::Internal(format!(
                        "the snapshot through {wanted} is not in the snapshot store"
                    )))
                }
                Err(error) => return Err(NodeFailure::Storage(error)),
            },
            Err(error) => return Err(NodeFailure::Storage(error)),
        };
        let index = source.meta().last_included.index;
        let state_machine = &mut self.state_machine;
        let loaded = catch_unwind(AssertUnwindSafe(|| state_machine.on_snapshot_load(&source)))
            .unwrap_or_else(|panic| {
                Err(StateMachineError::new(format!(
                    "on_snapshot_load panicked: {}",
                    panic_message(&panic)
                )))
            });
        loaded
            .map(|()| index)
            .map_err(|error| NodeFailure::StateMachine {
                index: Some(index),
                error,
            })
    }

    fn finish(mut self) -> Finished<S> {
        let _ = catch_unwind(AssertUnwindSafe(|| self.state_machine.on_shutdown()));
        Finished {
            state_machine: self.state_machine,
            saving: self.saving,
        }
    }
}

/// Writes a snapshot's files with the state machine's closure and commits it.
fn write_snapshot(
    store: &dyn SnapshotStore,
    meta: SnapshotMeta<PeerId>,
    write: super::state_machine::SnapshotSave,
) -> Result<(), SnapshotFailure> {
    let mut sink = store.create(meta.last_included, meta.configuration)?;
    catch_unwind(AssertUnwindSafe(|| write(&mut sink))).unwrap_or_else(|panic| {
        Err(StateMachineError::new(format!(
            "the snapshot's writer panicked: {}",
            panic_message(&panic)
        )))
    })?;
    store.commit(sink)?;
    Ok(())
}

/// Runs a callback; a panic in it is the state machine's failure.
fn guarded(f: impl FnOnce()) -> Option<NodeFailure> {
    catch_unwind(AssertUnwindSafe(f))
        .err()
        .map(|panic| NodeFailure::StateMachine {
            index: None,
            error: StateMachineError::new(format!(
                "a callback panicked: {}",
                panic_message(&panic)
            )),
        })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic".to_string()
    }
}

/// Applies items in order, client entries in batches of at most `apply_batch`.
/// Returns the last index applied, and the failure that stopped it, if any (every item
/// after the failure is answered as failed).
fn apply_items<S: StateMachine>(
    state_machine: &mut S,
    items: Vec<ApplyItem<S>>,
    apply_batch: usize,
    batch: &mut ApplyBatch<S>,
) -> (Option<LogIndex>, Option<NodeFailure>) {
    let mut last = None;
    let ApplyBatch {
        entries,
        completions,
    } = batch;
    // Each batch is drained by `apply_batch_now` (which catches a panic of
    // `on_apply_batch`; a hook's panic is caught below), so nothing is left behind, but
    // an earlier job's leftovers must never be applied with this one's.
    entries.clear();
    completions.clear();
    let mut items = items.into_iter().peekable();
    while let Some(item) = items.next() {
        let failure = match item {
            ApplyItem::Client {
                entry,
                completion,
                on_committed,
            } => {
                if let Some(hook) = on_committed {
                    let log_id = entry.log_id;
                    // Committed on a majority, not yet applied. The hook belongs to the
                    // client that proposed; its panic must not fail the node.
                    let _ = catch_unwind(AssertUnwindSafe(|| hook(log_id)));
                }
                entries.push(entry);
                completions.push(completion);
                let batch_ends = entries.len() >= apply_batch
                    || !matches!(items.peek(), Some(ApplyItem::Client { .. }));
                if !batch_ends {
                    continue;
                }
                let (applied, failure) = apply_batch_now(state_machine, entries, completions);
                last = applied.or(last);
                failure
            }
            ApplyItem::Configuration(log_id, configuration) => {
                let failure = guarded(|| state_machine.on_configuration_committed(&configuration));
                if failure.is_none() {
                    last = Some(log_id.index);
                }
                failure.map(|failure| match failure {
                    NodeFailure::StateMachine { error, .. } => NodeFailure::StateMachine {
                        index: Some(log_id.index),
                        error,
                    },
                    other => other,
                })
            }
            ApplyItem::Blank(log_id) => {
                last = Some(log_id.index);
                None
            }
        };
        if let Some(failure) = failure {
            answer_failed(items.collect(), &failure);
            return (last, Some(failure));
        }
    }
    (last, None)
}

/// Applies one batch of client entries and answers their clients. Returns the last
/// index applied (all of the batch, or the part before a failure) and the failure.
fn apply_batch_now<S: StateMachine>(
    state_machine: &mut S,
    entries: &mut Vec<CommittedEntry<S::Context>>,
    completions: &mut Vec<Option<Completion<S::Response>>>,
) -> (Option<LogIndex>, Option<NodeFailure>) {
    let result = catch_unwind(AssertUnwindSafe(|| state_machine.on_apply_batch(entries)))
        .unwrap_or_else(|panic| {
            Err(PartialApply::from(StateMachineError::new(format!(
                "panicked in on_apply: {}",
                panic_message(&panic)
            ))))
        });
    let (responses, error) = match result {
        Ok(responses) if responses.len() == entries.len() => (responses, None),
        Ok(responses) => {
            let error = StateMachineError::new(format!(
                "on_apply_batch returned {} responses for {} entries",
                responses.len(),
                entries.len()
            ));
            (Vec::new(), Some(error))
        }
        Err(PartialApply { responses, error }) if responses.len() < entries.len() => {
            (responses, Some(error))
        }
        Err(PartialApply { responses, error }) => {
            let error = StateMachineError::new(format!(
                "on_apply_batch failed ({error}) but answered {} of {} entries",
                responses.len(),
                entries.len()
            ));
            (Vec::new(), Some(error))
        }
    };
    let applied = responses.len();
    let mut last = None;
    let mut drained = entries.drain(..).zip(completions.drain(..));
    // `responses` first: `zip` stops at its end without taking an entry from `drained`.
    for (response, (entry, completion)) in responses.into_iter().zip(drained.by_ref()) {
        last = Some(entry.log_id.index);
        if let Some(completion) = completion {
            let _ = completion.send(Ok(Applied {
                log_id: entry.log_id,
                response,
            }));
        }
    }
    let Some(error) = error else {
        return (last, None);
    };
    let mut rest = drained.peekable();
    let failed_at = rest.peek().map(|(entry, _)| entry.log_id.index);
    let failure = NodeFailure::StateMachine {
        index: failed_at,
        error,
    };
    for (_, completion) in rest {
        if let Some(completion) = completion {
            let _ = completion.send(Err(ApplyError::NodeFailed {
                failure: failure.clone(),
            }));
        }
    }
    debug_assert!(applied == 0 || last.is_some());
    (last, Some(failure))
}

/// Answers the clients of `items`, which this node will not apply, with `failure` (or
/// `ShuttingDown` without one); their `on_committed` hooks still run (the entries are
/// committed all the same). For the driver: when the state machine's callbacks may block
/// (`hooks_may_block`: `StateMachine::blocks()` true, not under a simulation), hooks are
/// held to the same promise and run on tokio's blocking pool, never on the node's loop;
/// otherwise here. (A hook handed to the blocking pool while the runtime itself shuts
/// down may not run; its client is then answered `ShuttingDown` by the dropped
/// completion.)
pub(crate) fn answer_unapplied<S: StateMachine>(
    items: Vec<ApplyItem<S>>,
    failure: Option<NodeFailure>,
    hooks_may_block: bool,
) {
    let hooked = items.iter().any(|item| {
        matches!(
            item,
            ApplyItem::Client {
                on_committed: Some(_),
                ..
            }
        )
    });
    let answer = move || match failure {
        Some(failure) => answer_failed(items, &failure),
        None => answer_stopped(items),
    };
    if hooked && hooks_may_block {
        drop(tokio::task::spawn_blocking(answer));
    } else {
        answer();
    }
}

/// Answers every client of `items` with the failure (their hooks still run: the entries
/// are committed all the same).
pub(crate) fn answer_failed<S: StateMachine>(items: Vec<ApplyItem<S>>, failure: &NodeFailure) {
    answer_all(items, || ApplyError::NodeFailed {
        failure: failure.clone(),
    });
}

/// Answers every client of `items` with `ShuttingDown` (their hooks still run: the
/// entries are committed all the same).
pub(crate) fn answer_stopped<S: StateMachine>(items: Vec<ApplyItem<S>>) {
    answer_all(items, || ApplyError::ShuttingDown);
}

fn answer_all<S: StateMachine>(items: Vec<ApplyItem<S>>, error: impl Fn() -> ApplyError) {
    for item in items {
        if let ApplyItem::Client {
            entry,
            completion,
            on_committed,
        } = item
        {
            // Committed all the same: the hook still hears of it.
            if let Some(hook) = on_committed {
                let log_id = entry.log_id;
                let _ = catch_unwind(AssertUnwindSafe(|| hook(log_id)));
            }
            if let Some(completion) = completion {
                let _ = completion.send(Err(error()));
            }
        }
    }
}
