//! The driver: the one task that owns a node's `RaftCore`. It turns frames, proposals,
//! timer expiries and completions into core inputs, and carries out the core's actions
//! — nothing more. Every protocol decision is the core's.
//!
//! Its helpers, one concern each: [`Timers`] (durations and deadlines), [`PendingTasks`]
//! (client tasks until answered), [`Payloads`] (entry payloads the core does not hold),
//! [`Outbound`] (frames out), [`StatusPublisher`] (the published status); what reaches
//! it from its handles, and what it is built with, is `control.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use concord_sync::status;
use tokio::sync::mpsc;
use tokio::task::coop::cooperative;
use tokio::time::Instant;

use super::clock::Clock;
use super::control::{
    AdminAnswer, Channels, Control, DriverSnapshots, MembershipAnswer, TransferAnswer,
};
use super::error::{ApplyError, NodeFailure, ReadError, SnapshotError};
use super::fsm::{answer_unapplied, ApplyItem, FsmDone, FsmJob};
use super::inbox;
use super::options::NodeOptions;
use super::outbound::Outbound;
use super::payloads::Payloads;
use super::reader::{PayloadReader, ReadDone, ReadFor};
use super::reads::{PendingReads, ReadJob, ReadRequest, MAX_PARKED_READS};
use super::state_machine::{CommittedEntry, LeaderChangeContext, StateMachine};
use super::status::{DriverView, NodeDescription, NodeStatus, StatusPublisher};
use super::store::LogStore;
use super::tasks::{PendingTasks, Proposal};
use super::timers::Timers;
use super::transfer::{self, FetchContext, SnapshotEvent, SnapshotServer};
use super::writer::{WriteDone, WriterJob};
use crate::core::{
    Action, EntryKind, EntryMeta, Input, LogId, LogIndex, Message, PeerId, PersistQueue,
    PersistSeq, RaftCore, RequestId, Role, SnapshotMeta, Term, Timer,
};
use crate::metrics::NodeMetrics;
use crate::storage::LogEntry;
use crate::trace::event;
use crate::transport::{FrameBody, RaftFrame, SnapshotData, Transport};

/// A fetch in progress.
struct ActiveFetch {
    /// Tells its report from a superseded fetch's.
    generation: u64,
    leader: PeerId,
    snapshot: LogId,
    replies: mpsc::Sender<SnapshotData>,
    task: tokio::task::JoinHandle<()>,
}

/// While the driver is busy (events ready pass after pass, no wait), it looks at its
/// timers (reads the clock) once this many passes went by since it last did.
const CLOCK_EVERY_PASSES: u32 = 8;

/// While the driver is busy, it publishes its status once this many events went by
/// since it last did (and always before it waits, and before it answers an admin
/// request): the status a busy node shows is at most this many events old.
const PUBLISH_EVERY_EVENTS: u32 = 8;

/// The next item of a queue rung on the doorbell (`rung` holds its `source` bit), or
/// `None`: not rung, or found empty, which clears its bit until it is rung again.
fn take_rung<T>(rung: &mut u32, source: u32, try_recv: impl FnOnce() -> Option<T>) -> Option<T> {
    if *rung & source == 0 {
        return None;
    }
    let item = try_recv();
    if item.is_none() {
        *rung &= !source;
    }
    item
}

/// What one pass of the driver's loop handles.
enum Event<S: StateMachine> {
    WriteDone(WriteDone),
    FsmDone(FsmDone),
    FsmReports,
    ReadDone(ReadDone),
    Snapshot(SnapshotEvent),
    Stop,
    ClockChanged,
    Heartbeat,
    Election,
    SnapshotTick,
    Frame(RaftFrame),
    Control(Control),
    Reads(ReadRequest<S>),
    Proposals(Proposal<S>),
}

/// When a follower started handling an append, and how many entries it carries (for
/// the metrics).
type AppendTiming = (std::time::Instant, usize);

/// Most committed entries handed to the state machine in one job (the core hands out
/// at most `CoreOptions::max_apply_ahead` beyond the last applied one; a job's payloads
/// are read at once, so they are read in pieces).
const APPLY_CHUNK: usize = 1024;

/// Most payload bytes in one job (beyond its first entry, which goes alone if larger).
const APPLY_CHUNK_BYTES: u64 = 8 * 1024 * 1024;

/// Committed entries not yet applied beyond which a leader takes no new proposals (they
/// wait in the bounded proposal queue): a slow state machine slows the clients down
/// instead of growing the backlog.
const MAX_APPLY_BACKLOG: u64 = 16 * 1024;

pub(crate) struct Driver<S: StateMachine> {
    options: NodeOptions,
    core: RaftCore<PeerId>,
    queues: Channels<S>,
    timers: Timers,
    tasks: PendingTasks<S>,
    payloads: Payloads,
    outbound: Outbound,
    status: StatusPublisher,
    /// The step's writes on their way to the log writer (empty between steps).
    writes: PersistQueue<PeerId, LogEntry>,
    /// Highest index the state machine reported applied.
    applied: LogIndex,
    /// Highest index handed to the state machine.
    handed_over: LogIndex,
    /// Role notifications for the state machine, each to be delivered once the entries
    /// through its index have been handed over (log order: a term's entries before the
    /// news that its leadership ended).
    notifications: VecDeque<(LogIndex, FsmJob<S>)>,
    failed: Option<NodeFailure>,
    role_view: (Role, Term, Option<PeerId>),
    frames_rejected: u64,
    snapshots: Option<DriverSnapshots>,
    server: Option<SnapshotServer>,
    fetch: Option<ActiveFetch>,
    fetches_started: u64,
    snapshots_installed: u64,
    /// `Node::snapshot` callers waiting for the snapshot being taken.
    snapshot_waiters: Vec<tokio::sync::oneshot::Sender<Result<Option<LogId>, SnapshotError>>>,
    /// The step's compactions (through, and the snapshot covering them), sent to the
    /// writer after its writes.
    compactions: Vec<(LogIndex, LogId)>,
    /// Membership changes and transfers asked of the core, by request id.
    membership_waiters: BTreeMap<RequestId, MembershipAnswer>,
    transfer_waiters: BTreeMap<RequestId, TransferAnswer>,
    next_admin_request: u64,
    /// Answers of the current event, sent once the status is published.
    answers: Vec<AdminAnswer>,
    /// Reads asked of the core, or waiting for their index to be handed over.
    reads: PendingReads<S>,
    metrics: NodeMetrics,
    /// When the latest snapshot fetch started (for `install-snapshot`).
    fetch_started: Option<std::time::Instant>,
    /// Reports of the state machine run by this loop (`InlineFsm`), taken after the
    /// event that produced them, as a task's would arrive on `fsm_done`.
    fsm_reports: Vec<FsmDone>,
    /// What goes to the state machine, in order: jobs queued by the step in progress
    /// (see `flush_fsm`), and apply chunks whose payloads are being read from the
    /// store (everything behind one waits for it).
    fsm_outbox: VecDeque<Outgoing<S>>,
    /// Reads of payloads the cache lacks, off this task (`reader.rs`).
    reader: PayloadReader,
    read_done: mpsc::UnboundedReceiver<ReadDone>,
    /// The input queues rung and not yet found empty (`inbox`, `ready`).
    rung: u32,
    /// Passes of the loop since `ready` last read the clock for the timers.
    passes_since_clock: u32,
    /// Events handled since the status was last published (`publish_status`).
    events_unpublished: u32,
    /// The buffer `on_proposals` gathers a batch in (empty between batches).
    proposal_batch: Vec<Proposal<S>>,
    /// Writer jobs held back while an apply chunk's payloads are being read: from the
    /// first job that may delete entries (a compaction, a snapshot install) on, in
    /// order, until no chunk is reading — so an apply read never finds its entries
    /// gone, and its failure is always the store's.
    held_writer_jobs: VecDeque<WriterJob>,
}

/// An entry of the driver's queue to the state machine.
enum Outgoing<S: StateMachine> {
    Ready(FsmJob<S>),
    /// An apply chunk waiting for its payloads (`ReadFor::Apply(ticket)`): its items
    /// hold empty payloads until the read fills them in.
    Reading {
        ticket: u64,
        items: Vec<ApplyItem<S>>,
    },
}

impl<S: StateMachine> Driver<S> {
    pub(crate) fn new(
        options: NodeOptions,
        core: RaftCore<PeerId>,
        store: Arc<dyn LogStore>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        channels: Channels<S>,
        // The status, and with it the flag `Node::apply`'s lock-free fast path reads
        // (leader and not failed). Dropping it (a panic) clears the flag too.
        status: status::Publisher<NodeStatus>,
    ) -> Self {
        let mut channels = channels;
        let snapshots = channels.snapshots.take();
        let metrics = channels.metrics.clone();
        let applied = core.applied_index();
        let role_view = (core.role(), core.term(), core.leader().cloned());
        let outbound = Outbound::new(
            transport,
            options.group.clone(),
            options.peer.clone(),
            options.faults.clone(),
        );
        let (reader, read_done) = PayloadReader::new(
            store.clone(),
            options.group.clone(),
            options.faults.clone(),
            &channels.doorbell.ringer(),
        );
        let server = snapshots.as_ref().map(|snapshots| SnapshotServer {
            store: snapshots.store.clone(),
            sender: outbound.transfer(),
            in_flight: Arc::default(),
            chunk_bytes: options.snapshot_chunk_bytes,
            inline: options.faults.is_some(),
            open: Arc::default(),
        });
        Driver {
            snapshots,
            server,
            fetch: None,
            fetches_started: 0,
            snapshots_installed: 0,
            snapshot_waiters: Vec::new(),
            membership_waiters: BTreeMap::new(),
            transfer_waiters: BTreeMap::new(),
            next_admin_request: 0,
            answers: Vec::new(),
            reads: PendingReads::new(),
            compactions: Vec::new(),
            timers: Timers::new(&options, clock),
            tasks: PendingTasks::new(),
            payloads: Payloads::new(store.clone(), options.group.clone()),
            reader,
            read_done,
            rung: 0,
            passes_since_clock: CLOCK_EVERY_PASSES,
            events_unpublished: 0,
            proposal_batch: Vec::new(),
            held_writer_jobs: VecDeque::new(),
            outbound,
            status: StatusPublisher::new(
                status,
                options.group.to_string(),
                options.peer.to_string(),
            ),
            options,
            core,
            queues: channels,
            writes: PersistQueue::new(),
            applied,
            handed_over: applied,
            notifications: VecDeque::new(),
            failed: None,
            role_view,
            frames_rejected: 0,
            metrics,
            fetch_started: None,
            fsm_reports: Vec::new(),
            fsm_outbox: VecDeque::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        // The state machine starts from the snapshot the core was restored from.
        if let Some(meta) = self.core.snapshot().cloned() {
            self.handed_over = self.handed_over.max(meta.last_included.index);
            self.send_to_fsm(FsmJob::Load(meta));
            self.flush_fsm().await;
        }
        let start = self.core.start();
        event!(
            info,
            term = self.core.term().0,
            last_log_index = self.core.last_log_id().index.0,
            applied = self.applied.0,
            snapshot = ?self.core.snapshot().map(|meta| meta.last_included.index.0),
            "node started"
        );
        let (report, follow_ups) = self.execute(start).await;
        let report = report.map(|seq| Input::Persisted { seq });
        for input in report.into_iter().chain(follow_ups) {
            self.step(input).await;
        }
        // (`execute` skips its hand-over when a write fails.)
        self.flush_fsm().await;
        self.take_fsm_reports().await;
        // A snapshot the state machine failed to load fails the node before anything
        // else is stepped.
        if self.failed.is_some() && !self.core.is_failed() {
            self.step(Input::Fail).await;
        }
        self.publish_status();
        // Timers are two long-lived sleeps, reset only when a deadline changes: creating
        // fresh ones on every loop iteration costs a timer-wheel insert each time.
        let far = || Instant::now() + std::time::Duration::from_secs(86_400 * 365); // never
        let election = tokio::time::sleep_until(far());
        let heartbeat = tokio::time::sleep_until(far());
        tokio::pin!(election, heartbeat);
        let mut armed = (None, None, None);
        let lazy_election = self.options.faults.is_none();
        let clock_changed = self.timers.clock().notifier();
        // The snapshot interval (JRaft `snapshotIntervalSecs`), if snapshots are on: a
        // deadline like the others, moved on by an interval from the moment it fires
        // (a late one does not fire twice).
        let interval = self.options.snapshot_interval;
        let mut snapshot_due =
            (self.snapshots.is_some() && !interval.is_zero()).then(|| Instant::now() + interval);
        let snapshot_sleep = tokio::time::sleep_until(snapshot_due.unwrap_or_else(far));
        tokio::pin!(snapshot_sleep);
        loop {
            self.timers.follow_clock();
            let deadlines = (
                self.timers.deadline(Timer::Election),
                self.timers.deadline(Timer::Heartbeat),
            );
            let backlog = self.core.commit_index().0.saturating_sub(self.applied.0);
            // What is ready already is taken without waiting, in `ready`'s order, from
            // the queues rung on the doorbell; the loop waits only when nothing is, on
            // the doorbell and the timers alone (one waker registration per wait, not
            // one per queue per pass). The clock is read after every wait, and every
            // few passes while busy (see `ready`): a timer due in the middle of a flood
            // of frames fires at most a few passes (microseconds) late.
            self.passes_since_clock = self.passes_since_clock.saturating_add(1);
            let event = match self.ready(deadlines, snapshot_due, backlog) {
                Some(event) => {
                    // Taking from a queue without awaiting it consumes no budget:
                    // consume it here, as an awaited channel would, so a flood of
                    // frames still lets the worker's other tasks run.
                    tokio::task::coop::consume_budget().await;
                    event
                }
                None => {
                    // What the events taken since the last publication changed is
                    // shown before the loop waits.
                    if self.events_unpublished > 0 {
                        self.publish_status();
                    }
                    // A follower's election deadline moves on with every append it
                    // receives: re-inserting the sleep into the timer wheel each time
                    // costs a lock and a wheel update per step. A later deadline is
                    // left to the sleep already armed, which wakes early and sleeps
                    // again until the real one (not under a simulation, whose schedule
                    // includes every wake-up).
                    let later = matches!((armed.0, deadlines.0), (Some(at), Some(new)) if new > at);
                    if armed.0 != deadlines.0 && !(later && lazy_election) {
                        armed.0 = deadlines.0;
                        election.as_mut().reset(deadlines.0.unwrap_or_else(far));
                    }
                    if armed.1 != deadlines.1 {
                        armed.1 = deadlines.1;
                        heartbeat.as_mut().reset(deadlines.1.unwrap_or_else(far));
                    }
                    if armed.2 != snapshot_due {
                        armed.2 = snapshot_due;
                        snapshot_sleep
                            .as_mut()
                            .reset(snapshot_due.unwrap_or_else(far));
                    }
                    // Nothing is ready: wait for a ring, a timer, the stop or (in
                    // simulations) a clock adjustment. `biased` keeps simulated runs
                    // deterministic; the `concord_sync` futures are made `cooperative`
                    // as tokio's channels are.
                    tokio::select! {
                        biased;
                        rung = cooperative(self.queues.doorbell.wait()) => {
                            self.rung |= rung;
                            self.passes_since_clock = CLOCK_EVERY_PASSES;
                            continue;
                        }
                        _ = cooperative(self.queues.stop.stopped()) => Event::Stop,
                        // The clock was adjusted (simulations only): the loop's head
                        // recomputes the timers.
                        _ = async {
                            match &clock_changed {
                                Some(notify) => notify.notified().await,
                                None => std::future::pending().await,
                            }
                        }, if clock_changed.is_some() => Event::ClockChanged,
                        _ = &mut heartbeat, if deadlines.1.is_some() => Event::Heartbeat,
                        _ = &mut election, if deadlines.0.is_some() => Event::Election,
                        _ = &mut snapshot_sleep, if snapshot_due.is_some() => Event::SnapshotTick,
                    }
                }
            };
            match event {
                Event::WriteDone(done) => self.on_write_done(done).await,
                Event::FsmDone(done) => self.on_fsm_done(done).await,
                // A state machine this loop runs itself reports through `fsm_reports`,
                // one round after each event; what those rounds lead to (a long
                // catch-up: each report releases the next `Apply`) is taken here, a
                // round per pass, within tokio's budget (the status published every
                // few passes and before the loop waits).
                Event::FsmReports => self.take_fsm_reports().await,
                Event::ReadDone(done) => self.on_read_done(done).await,
                Event::Snapshot(event) => self.on_snapshot_event(event).await,
                Event::Stop => break,
                Event::ClockChanged => {}
                Event::Heartbeat => {
                    self.timers.cancel(Timer::Heartbeat);
                    self.step(Input::Timeout(Timer::Heartbeat)).await;
                    self.metrics.replicators(&self.core);
                }
                Event::Election => {
                    if let Some(due) = deadlines.0.filter(|due| Instant::now() < *due) {
                        // Woke at an earlier deadline than the timer's current one.
                        armed.0 = Some(due);
                        election.as_mut().reset(due);
                    } else {
                        self.on_election_timeout().await;
                    }
                }
                Event::SnapshotTick => {
                    snapshot_due = Some(Instant::now() + interval);
                    self.step(Input::TakeSnapshot).await;
                }
                Event::Frame(frame) => self.on_frame(frame).await,
                Event::Control(control) => self.on_control(control).await,
                Event::Reads(first) => self.on_reads(first).await,
                Event::Proposals(first) => self.on_proposals(first).await,
            }
            if self.queues.inline_fsm.is_some() {
                self.take_fsm_reports().await;
            }
            // A failure (storage, state machine, a broken core invariant) is the core's
            // to act on: it steps aside — a leader steps down and goes quiet, no node
            // campaigns or votes — so the rest of the group carries on without it.
            if self.failed.is_some() && !self.core.is_failed() {
                self.step(Input::Fail).await;
            }
            // Published every few events while busy (a publication locks the status,
            // compares it and wakes its subscribers), and before an admin answer: a
            // caller told its change is done sees its effect in the status.
            self.events_unpublished += 1;
            if self.events_unpublished >= PUBLISH_EVERY_EVENTS || !self.answers.is_empty() {
                self.publish_status();
            }
            for answer in self.answers.drain(..) {
                answer.send();
            }
        }
        // Jobs queued by a step that failed before its hand-over still go, in order.
        self.flush_fsm().await;
        self.shut_down();
    }

    /// The first event ready without waiting, in the loop's order: completions first
    /// (they unblock everything else), then the stop, then timers that are due (so a
    /// flood of frames cannot starve heartbeats), then frames, then new work. Only the
    /// queues rung since they were last found empty are looked into (`self.rung`).
    fn ready(
        &mut self,
        deadlines: (Option<Instant>, Option<Instant>),
        snapshot_due: Option<Instant>,
        backlog: u64,
    ) -> Option<Event<S>> {
        self.rung |= self.queues.doorbell.take();
        if let Some(done) = take_rung(&mut self.rung, inbox::WRITER_DONE, || {
            self.queues.writer_done.try_recv().ok()
        }) {
            return Some(Event::WriteDone(done));
        }
        if let Some(done) = take_rung(&mut self.rung, inbox::FSM_DONE, || {
            self.queues.fsm_done.try_recv().ok()
        }) {
            return Some(Event::FsmDone(done));
        }
        if !self.fsm_reports.is_empty() {
            return Some(Event::FsmReports);
        }
        if let Some(done) = take_rung(&mut self.rung, inbox::READ_DONE, || {
            self.read_done.try_recv().ok()
        }) {
            return Some(Event::ReadDone(done));
        }
        if let Some(event) = take_rung(&mut self.rung, inbox::SNAPSHOT_EVENTS, || {
            self.queues.snapshot_events.try_recv().ok()
        }) {
            return Some(Event::Snapshot(event));
        }
        if self.queues.stop.check().is_some() {
            return Some(Event::Stop);
        }
        // The clock is read once `CLOCK_EVERY_PASSES` passes went by without a look at
        // the timers (right away after a wait): a pass that returns a completion before
        // reaching this point does not count as a look.
        if self.passes_since_clock >= CLOCK_EVERY_PASSES
            && (deadlines.0.is_some() || deadlines.1.is_some() || snapshot_due.is_some())
        {
            self.passes_since_clock = 0;
            let now = Instant::now();
            let due = |deadline: Option<Instant>| deadline.is_some_and(|at| at <= now);
            if due(deadlines.1) {
                return Some(Event::Heartbeat);
            }
            if due(deadlines.0) {
                return Some(Event::Election);
            }
            if due(snapshot_due) {
                return Some(Event::SnapshotTick);
            }
        }
        if let Some(frame) = take_rung(&mut self.rung, inbox::FRAMES, || {
            self.queues.inbound.try_recv().ok()
        }) {
            return Some(Event::Frame(frame));
        }
        if let Some(control) = take_rung(&mut self.rung, inbox::CONTROLS, || {
            self.queues.controls.try_recv().ok()
        }) {
            return Some(Event::Control(control));
        }
        // A queue held back by its bound keeps its bit: it is looked into again once
        // the bound lets it (the event that lowered the backlog is a pass of its own).
        if self.reads.parked() < MAX_PARKED_READS {
            if let Some(first) = take_rung(&mut self.rung, inbox::READS, || {
                self.queues.reads.try_recv().ok()
            }) {
                return Some(Event::Reads(first));
            }
        }
        if backlog < MAX_APPLY_BACKLOG {
            if let Some(first) = take_rung(&mut self.rung, inbox::PROPOSALS, || {
                self.queues.proposals.try_recv().ok()
            }) {
                return Some(Event::Proposals(first));
            }
        }
        None
    }

    async fn on_election_timeout(&mut self) {
        self.timers.cancel(Timer::Election);
        let was = (self.core.role(), self.core.term());
        self.step(Input::Timeout(Timer::Election)).await;
        // A pre-vote round repeated in the same term changes no role: count it here
        // (role changes are counted where they are reported).
        if was == (Role::PreCandidate, self.core.term()) && self.core.role() == Role::PreCandidate {
            self.metrics.role(Role::PreCandidate);
        }
    }

    /// One core step. A failure raised since the last one (by the writer, the state
    /// machine, an invariant check, in the middle of a pass of the event loop) reaches
    /// the core first, in place of `input`, which a failed core would ignore anyway:
    /// nothing is stepped into a core that should already have stepped aside.
    ///
    /// The inputs a step's execution leads to are stepped next, depth first (each
    /// step's before those queued earlier), as nested calls would — in a loop: the
    /// driver's futures are large, and boxing one per nested step cost an allocation
    /// and a copy on every write.
    ///
    /// The first input is stepped when the step is called, before its future is
    /// awaited: an input is large, and is not kept in the future. Await the future at
    /// once (never in a `select!`): dropped, it would lose the actions of a step the
    /// core has already taken.
    fn step(&mut self, input: Input<PeerId>) -> impl Future<Output = ()> + '_ {
        let actions = self.step_core(input);
        self.run_step(actions)
    }

    /// Steps the core with `input`, or with `Input::Fail` in its place (see `step`).
    fn step_core(&mut self, input: Input<PeerId>) -> Vec<Action<PeerId>> {
        let actions = if self.failed.is_some() && !self.core.is_failed() {
            self.core.step(Input::Fail)
        } else {
            self.core.step(input)
        };
        self.check_core();
        actions
    }

    /// Executes a step's actions, then steps what they lead to (see `step`).
    async fn run_step(&mut self, mut actions: Vec<Action<PeerId>>) {
        // The common case (at most a write report) allocates nothing. A write report
        // travels as its sequence number.
        let mut queue = VecDeque::new();
        loop {
            let (report, follow_ups) = self.execute(actions).await;
            if self.failed.is_some() {
                self.release_notifications();
                self.flush_fsm().await;
            }
            for input in follow_ups.into_iter().rev() {
                queue.push_front(input);
            }
            actions = match report {
                Some(seq) => self.step_core(Input::Persisted { seq }),
                None => match queue.pop_front() {
                    Some(input) => self.step_core(input),
                    None => break,
                },
            };
        }
        // The payloads the step brought (proposals, a received append) are cached for
        // the apply now, not before: its write and sends took them from the step.
        self.payloads.end_step(self.handed_over);
    }

    /// Executes a step's actions; returns what to step next: first a write reported
    /// durable at once (its sequence number), then the inputs of a refused snapshot
    /// save or fetch.
    async fn execute(
        &mut self,
        actions: Vec<Action<PeerId>>,
    ) -> (Option<PersistSeq>, Vec<Input<PeerId>>) {
        // The queue is kept between steps for its capacity (taken out for the borrow).
        let mut writes = std::mem::take(&mut self.writes);
        let mut follow_ups = Vec::new();
        for action in actions {
            match action {
                // Queued for the step's write job (`take_all` below). Matched here, not
                // offered first: most actions are not writes, and an action is large.
                write @ (Action::SaveHardState { .. }
                | Action::TruncateLog { .. }
                | Action::AppendLog { .. }
                | Action::InstallSnapshot { .. }) => {
                    match writes.offer(write, |meta| self.payloads.stored_entry(meta)) {
                        Ok(None) => {}
                        // (`offer` hands back only what is not a write.)
                        Ok(Some(other)) => {
                            self.fail(NodeFailure::Internal(format!("not a write: {other:?}")));
                            return (None, Vec::new());
                        }
                        Err(failure) => {
                            self.fail(failure);
                            return (None, Vec::new());
                        }
                    }
                }
                Action::Send { to, message } => self.send(to, message),
                Action::ResetTimer(timer) => self.timers.arm(timer),
                Action::CancelTimer(timer) => self.timers.cancel(timer),
                Action::ProposalAccepted { id, log_id } => {
                    if let Some(payload) = self.tasks.accepted(id, log_id) {
                        self.payloads.propose(log_id, payload);
                    }
                }
                Action::ProposalRejected { id, error } => self.tasks.rejected(id, error),
                // Answered once the status shows the step's effect (a removed leader
                // no longer reads as leader when its caller hears the change is done).
                Action::MembershipChanged { id, result } => {
                    event!(
                        info,
                        result = ?result,
                        configuration = ?self.core.configuration(),
                        "membership change finished"
                    );
                    if let Some(waiter) = self.membership_waiters.remove(&id) {
                        self.answers.push(AdminAnswer::Membership(waiter, result));
                    }
                }
                Action::TransferDone { id, result } => {
                    event!(info, result = ?result, "leadership transfer finished");
                    if let Some(waiter) = self.transfer_waiters.remove(&id) {
                        self.answers.push(AdminAnswer::Transfer(waiter, result));
                    }
                }
                // What goes to the state machine is queued (`fsm_outbox`) and handed
                // over at the end of the step: no action awaits on its own, so that this
                // function's future, which every step builds and moves, stays small.
                Action::Apply { entries } => self.apply(entries),
                Action::ReadReady { ids, result } => self.read_ready(ids, result),
                Action::RoleChanged {
                    role,
                    term,
                    leader,
                    commit_index,
                } => self.role_changed(role, term, leader, commit_index),
                // In log order: the save job follows the applies of every entry the
                // snapshot covers. Without snapshots, refused: the core keeps its log.
                Action::TakeSnapshot { meta } => {
                    event!(
                        debug,
                        through = meta.last_included.index.0,
                        "taking a snapshot"
                    );
                    // A failed node's state machine may not have every entry the
                    // snapshot would cover: no save.
                    if self.snapshots.is_some() && self.failed.is_none() {
                        self.send_to_fsm(FsmJob::Save(meta));
                    } else {
                        follow_ups.push(Input::SnapshotSaved {
                            last_included: meta.last_included,
                            saved: false,
                        });
                    }
                }
                Action::FetchSnapshot { from, meta } => {
                    if let Some(refused) = self.start_fetch(from, meta) {
                        follow_ups.push(refused);
                    }
                }
                Action::CompactLog { through, snapshot } => {
                    self.compactions.push((through, snapshot))
                }
                Action::RestoreSnapshot { meta } => self.restore(meta),
            }
        }
        let mut early_report = None;
        let job = writes.take_all();
        self.writes = writes;
        let mut inline_report = None;
        if let Some(writer) = self.queues.inline_writer.as_ref() {
            if let Some(job) = job {
                // A snapshot install is rare: its future is boxed, so that this
                // function's future, built and moved on every step, stays small.
                let written = match writer.write(job) {
                    Ok(written) => written,
                    Err(job) => Box::pin(writer.write_installing(job)).await,
                };
                match written {
                    Ok(seq) => inline_report = Some(seq),
                    Err(error) => self.fail(NodeFailure::Storage(error)),
                }
            }
        } else if let Some(job) = job {
            // Teeth tests only: an executor that reports writes durable before they are.
            #[cfg(feature = "teeth")]
            if self
                .options
                .faults
                .as_ref()
                .is_some_and(|faults| faults.reports_before_durable(&job.writes))
            {
                early_report = Some(job.seq);
            }
            if !self.queue_write_job(WriterJob::Write(job)).await {
                early_report = None;
            }
        }
        // After the step's writes, in the writer's order.
        let compactions = std::mem::take(&mut self.compactions);
        if let Some(&(through, snapshot)) = compactions.iter().max() {
            if let Some(writer) = self.queues.inline_writer.as_ref() {
                // Nothing more is written after a failed write (as the writer task
                // stops at its first failure).
                if self.failed.is_none() {
                    if let Err(error) = writer.compact(through, snapshot) {
                        self.fail(NodeFailure::Storage(error));
                    }
                }
            } else {
                self.queue_write_job(WriterJob::Compact { through, snapshot })
                    .await;
            }
        }
        self.flush_fsm().await;
        // After this step's applies, so that the next step's come after them.
        (inline_report.or(early_report), follow_ups)
    }

    /// Queues a job for the log writer task, or holds it (with every job after it)
    /// while an apply chunk is reading entries it may delete. False when the writer is
    /// gone (the node fails).
    async fn queue_write_job(&mut self, job: WriterJob) -> bool {
        self.release_writer_jobs().await;
        if !self.held_writer_jobs.is_empty() || (self.chunk_reading() && job.discards_entries()) {
            self.held_writer_jobs.push_back(job);
            return true;
        }
        if cooperative(self.queues.writer_jobs.send(job))
            .await
            .is_err()
        {
            self.fail(NodeFailure::TaskStopped("log writer".into()));
            return false;
        }
        true
    }

    /// Whether an apply chunk in the queue to the state machine is reading its payloads.
    fn chunk_reading(&self) -> bool {
        self.fsm_outbox
            .iter()
            .any(|outgoing| matches!(outgoing, Outgoing::Reading { .. }))
    }

    /// Releases the held writer jobs once no apply chunk is reading.
    async fn release_writer_jobs(&mut self) {
        if self.chunk_reading() {
            return;
        }
        while let Some(job) = self.held_writer_jobs.pop_front() {
            if cooperative(self.queues.writer_jobs.send(job))
                .await
                .is_err()
            {
                self.fail(NodeFailure::TaskStopped("log writer".into()));
                self.held_writer_jobs.clear();
                return;
            }
        }
    }

    fn send(&mut self, to: PeerId, message: Message<PeerId>) {
        // The core delivers its own vote to itself; it never addresses this node.
        if to == self.options.peer {
            return;
        }
        let payloads = match &message {
            Message::Append(request) => match self.payloads.at_hand(&request.entries) {
                Some(payloads) => payloads,
                None if self.reader.inline() => match self.payloads.for_entries(&request.entries) {
                    Ok(payloads) => payloads,
                    // Not yet readable (still being written): skip; Raft retransmits.
                    Err(_) => return,
                },
                None => {
                    // From the store, off this task (sent when read).
                    self.reader.start_send(to, message);
                    return;
                }
            },
            _ => Vec::new(),
        };
        self.send_with(to, message, payloads);
    }

    /// Sends `message` with its entries' payloads.
    fn send_with(&mut self, to: PeerId, message: Message<PeerId>, payloads: Vec<Bytes>) {
        // A read that finishes after the node failed: a failed node goes quiet.
        if self.failed.is_some() {
            return;
        }
        if let Message::Append(request) = &message {
            if !request.entries.is_empty() && self.metrics.enabled() {
                let bytes = payloads.iter().map(|p| p.len() as u64).sum();
                let in_flight = self
                    .core
                    .progress(&to)
                    .map_or(0, |progress| progress.inflights().count());
                self.metrics
                    .replicate_entries(request.entries.len(), bytes, in_flight);
            }
        }
        self.outbound.send(to, message, payloads);
    }

    /// A payload read finished: the append goes out, or the apply chunk joins the
    /// queue to the state machine in its place.
    async fn on_read_done(&mut self, done: ReadDone) {
        self.reader.finished(&done.purpose);
        match done.purpose {
            // Unreadable now (replaced by a later leader's entries, or compacted): the
            // message is dropped, as the network may drop it.
            ReadFor::Send { to, message } => {
                if let Ok(payloads) = done.result {
                    self.send_with(to, message, payloads);
                }
            }
            ReadFor::Apply(ticket) => {
                let Some(position) = self.fsm_outbox.iter().position(
                    |outgoing| matches!(outgoing, Outgoing::Reading { ticket: t, .. } if *t == ticket),
                ) else {
                    return;
                };
                let Some(Outgoing::Reading { mut items, .. }) = self.fsm_outbox.remove(position)
                else {
                    return;
                };
                match done.result {
                    // Applied in its place even on a node that failed since: jobs
                    // queued before a failure still go, in order.
                    Ok(payloads) => {
                        for (item, data) in items.iter_mut().zip(payloads) {
                            if let ApplyItem::Client { entry, .. } = item {
                                entry.data = data;
                            }
                        }
                        self.fsm_outbox
                            .insert(position, Outgoing::Ready(FsmJob::Apply(items)));
                    }
                    Err(error) => {
                        // Committed entries are durable here, and nothing that deletes
                        // entries ran while they were read (`held_writer_jobs`):
                        // unreadable is a storage failure. Nothing behind the chunk may
                        // run on a state without it — later applies, reads, saves and
                        // loads are dropped (their clients answered); the role
                        // notifications still go.
                        let failure = NodeFailure::Storage(error);
                        let hooks_may_block = self.hooks_may_block();
                        answer_unapplied(items, Some(failure.clone()), hooks_may_block);
                        let behind = self.fsm_outbox.split_off(position);
                        for outgoing in behind {
                            match outgoing {
                                Outgoing::Ready(FsmJob::Apply(items))
                                | Outgoing::Reading { items, .. } => {
                                    answer_unapplied(items, Some(failure.clone()), hooks_may_block)
                                }
                                Outgoing::Ready(
                                    job @ (FsmJob::LeaderStart(_)
                                    | FsmJob::LeaderStop(_)
                                    | FsmJob::StartFollowing(_)
                                    | FsmJob::StopFollowing(_)),
                                ) => self.fsm_outbox.push_back(Outgoing::Ready(job)),
                                Outgoing::Ready(
                                    FsmJob::Save(_) | FsmJob::Load(_) | FsmJob::Read(_),
                                ) => {}
                            }
                        }
                        self.fail(failure);
                    }
                }
                self.flush_fsm().await;
                self.release_writer_jobs().await;
            }
        }
    }

    /// Routes a frame to the core. Only misaddressed frames (another group, another
    /// node) are the driver's to refuse; who may say what is the core's decision.
    /// Snapshot-transfer frames go to the snapshot server or the running fetch.
    fn on_frame(&mut self, frame: RaftFrame) -> impl Future<Output = ()> + '_ {
        // The frame is taken apart and stepped before the future is built: a frame is
        // large, and is not kept in the future (see `step`).
        let stepped = self
            .frame_input(frame)
            .map(|(input, append)| (self.step_core(input), append));
        async move {
            if let Some((actions, append)) = stepped {
                self.run_step(actions).await;
                if let Some((started, entries)) = append {
                    self.metrics
                        .handle_append_entries(started.elapsed(), entries);
                }
            }
        }
    }

    /// A frame's input for the core (with an append's timing when metrics are on), or
    /// `None`: refused, or a piece of a snapshot transfer, handled here.
    fn frame_input(&mut self, frame: RaftFrame) -> Option<(Input<PeerId>, Option<AppendTiming>)> {
        if frame.group != self.options.group || frame.to != self.options.peer {
            self.frames_rejected += 1;
            event!(
                debug,
                from = %frame.from,
                group = %frame.group,
                to = %frame.to,
                "frame refused: another group or peer"
            );
            return None;
        }
        let message = match frame.body {
            FrameBody::Raft(message) => message,
            FrameBody::SnapshotRead(read) => {
                // Who may read the snapshot is the core's decision (members, and the
                // peers a leader replicates to).
                let member = self.core.may_read_snapshot(&frame.from);
                #[cfg(feature = "tracing")]
                let from = frame.from.clone();
                let served = member
                    && self
                        .server
                        .as_ref()
                        .is_some_and(|server| server.serve(frame.from, read));
                if !served {
                    self.frames_rejected += 1;
                    event!(
                        debug,
                        from = %from,
                        "snapshot read refused: not a member, no snapshot store, or busy"
                    );
                }
                return None;
            }
            FrameBody::SnapshotData(data) => {
                match &self.fetch {
                    Some(fetch)
                        if fetch.snapshot == data.snapshot && fetch.leader == frame.from =>
                    {
                        // A full queue drops the answer: the fetch asks again.
                        let _ = fetch.replies.try_send(data);
                    }
                    _ => {
                        self.frames_rejected += 1;
                        event!(
                            debug,
                            from = %frame.from,
                            "snapshot data refused: no fetch of it is running"
                        );
                    }
                }
                return None;
            }
        };
        if let Message::Append(request) = &message {
            // The payloads travel with the step (its `AppendLog` writes them); those the
            // apply will need are cached when the step is over, within a byte bound.
            // Only indices the core could append (an append must continue the log) are
            // cached, so a hostile index cannot make the cache allocate without bound.
            let reachable = self.core.last_log_id().index.0 + request.entries.len() as u64;
            let handed_over = self.handed_over;
            self.payloads
                .receive(&request.entries, frame.payloads, |log_id| {
                    log_id.index > handed_over && log_id.index.0 <= reachable
                });
        }
        let append = match &message {
            Message::Append(request) if self.metrics.enabled() => {
                Some((std::time::Instant::now(), request.entries.len()))
            }
            _ => None,
        };
        let input = Input::Message {
            from: frame.from,
            message,
        };
        Some((input, append))
    }

    /// Starts fetching `meta` from `from`, replacing a fetch still running. Returns the
    /// refusal to step when this node cannot fetch (no snapshot support).
    fn start_fetch(&mut self, from: PeerId, meta: SnapshotMeta<PeerId>) -> Option<Input<PeerId>> {
        if let Some(old) = self.fetch.take() {
            old.task.abort();
        }
        let Some(snapshots) = &self.snapshots else {
            return Some(Input::SnapshotFetched {
                last_included: meta.last_included,
                fetched: false,
            });
        };
        let (replies, replies_rx) = mpsc::channel(16);
        let context = FetchContext {
            store: snapshots.store.clone(),
            staged: snapshots.staged.clone(),
            partial: snapshots.partial.clone(),
            sender: self.outbound.transfer(),
            events: snapshots.events.clone(),
            chunk_bytes: self.options.snapshot_chunk_bytes,
            request_timeout: self.options.snapshot_request_timeout(),
            inline: self.options.faults.is_some(),
        };
        let snapshot = meta.last_included;
        event!(
            info,
            from = %from,
            last_included = %snapshot,
            "installing a snapshot from the leader"
        );
        self.fetches_started += 1;
        self.fetch_started = Some(std::time::Instant::now());
        let generation = self.fetches_started;
        let task = tokio::spawn(transfer::fetch(
            context,
            generation,
            from.clone(),
            meta,
            replies_rx,
        ));
        self.fetch = Some(ActiveFetch {
            generation,
            leader: from,
            snapshot,
            replies,
            task,
        });
        None
    }

    /// `RestoreSnapshot`: the state machine takes the installed snapshot's state (after
    /// the entries already handed over, which it applies first).
    fn restore(&mut self, meta: SnapshotMeta<PeerId>) {
        self.snapshots_installed += 1;
        if let Some(started) = self.fetch_started.take() {
            self.metrics.install_snapshot(started.elapsed());
        }
        let index = meta.last_included.index;
        event!(
            info,
            last_included = %meta.last_included,
            "snapshot installed; the state machine loads it"
        );
        self.payloads.remove_through(index);
        self.handed_over = self.handed_over.max(index);
        self.send_to_fsm(FsmJob::Load(meta));
        self.release_notifications();
        self.release_reads();
    }

    async fn on_snapshot_event(&mut self, event: SnapshotEvent) {
        match event {
            SnapshotEvent::Saved {
                last_included,
                result,
            } => {
                let saved = result.is_ok();
                if saved {
                    self.metrics.save_snapshot();
                }
                #[cfg(feature = "tracing")]
                match &result {
                    Ok(()) => event!(info, last_included = %last_included, "snapshot saved"),
                    Err(reason) => event!(
                        warn,
                        last_included = %last_included,
                        reason = %reason,
                        "snapshot not saved"
                    ),
                }
                self.step(Input::SnapshotSaved {
                    last_included,
                    saved,
                })
                .await;
                let answer = result.map(|()| Some(last_included));
                // A caller told the snapshot is taken sees it in the status.
                self.publish_status();
                for waiter in self.snapshot_waiters.drain(..) {
                    let _ = waiter.send(answer.clone());
                }
            }
            SnapshotEvent::Fetched {
                generation,
                last_included,
                fetched,
            } => {
                if self
                    .fetch
                    .as_ref()
                    .is_none_or(|fetch| fetch.generation != generation)
                {
                    return; // a superseded fetch's report
                }
                self.fetch = None;
                if !fetched {
                    event!(warn, last_included = %last_included, "snapshot fetch failed");
                }
                self.step(Input::SnapshotFetched {
                    last_included,
                    fetched,
                })
                .await;
            }
        }
    }

    async fn on_control(&mut self, control: Control) {
        match control {
            Control::ChangeMembership(change, answer) => {
                self.next_admin_request += 1;
                let id = RequestId(self.next_admin_request);
                self.membership_waiters.insert(id, answer);
                self.step(Input::ChangeMembership { id, change }).await;
            }
            Control::ResetPeers(configuration, answer) => {
                self.next_admin_request += 1;
                let id = RequestId(self.next_admin_request);
                self.membership_waiters.insert(id, answer);
                self.step(Input::ResetPeers { id, configuration }).await;
            }
            Control::TransferLeadership(to, answer) => {
                self.next_admin_request += 1;
                let id = RequestId(self.next_admin_request);
                self.transfer_waiters.insert(id, answer);
                self.step(Input::TransferLeadership { id, to }).await;
            }
            Control::Describe(answer) => {
                // The status part is filled in by the caller from the publication
                // made here (the published status is the driver's to write only).
                self.publish_status();
                let status = NodeStatus::default();
                let election_timeout_ms =
                    u64::try_from(self.options.election_timeout.as_millis()).unwrap_or(u64::MAX);
                let _ = answer.send(NodeDescription::render(
                    &self.core,
                    status,
                    election_timeout_ms,
                ));
            }
            Control::Snapshot(answer) => {
                if self.snapshots.is_none() {
                    let _ = answer.send(Err(SnapshotError::Unsupported));
                    return;
                }
                if let Some(failure) = &self.failed {
                    let _ = answer.send(Err(SnapshotError::NodeFailed {
                        failure: failure.clone(),
                    }));
                    return;
                }
                self.step(Input::TakeSnapshot).await;
                if self.core.taking_snapshot().is_some() {
                    self.snapshot_waiters.push(answer);
                } else {
                    // Nothing applied since the latest snapshot (or an install is
                    // replacing the state): the latest one stands.
                    let latest = self.core.snapshot().map(|meta| meta.last_included);
                    self.publish_status();
                    let _ = answer.send(Ok(latest));
                }
            }
        }
    }

    async fn on_proposals(&mut self, first: Proposal<S>) {
        // One buffer for every batch (grown a push at a time, a fresh one was
        // reallocated several times per batch).
        let mut batch = std::mem::take(&mut self.proposal_batch);
        batch.push(first);
        while batch.len() < self.options.propose_batch {
            match self.queues.proposals.try_recv() {
                Ok(proposal) => batch.push(proposal),
                Err(_) => break,
            }
        }
        let proposals = match &self.failed {
            // Never stepped into the core: nothing appended.
            Some(failure) => {
                for proposal in batch.drain(..) {
                    let _ = proposal.completion.send(Err(ApplyError::NodeInError {
                        failure: failure.clone(),
                    }));
                }
                None
            }
            None => Some(self.tasks.propose(&mut batch)),
        };
        self.proposal_batch = batch;
        if let Some(proposals) = proposals {
            self.step(Input::Propose(proposals)).await;
        }
    }

    /// Hands committed entries to the state machine, a chunk per job, with the tasks
    /// this node accepted for them. They are durable here (the core never commits past
    /// its durable index).
    fn apply(&mut self, entries: Vec<EntryMeta<PeerId>>) {
        let mut rest = &entries[..];
        while !rest.is_empty() {
            let mut bytes = 0u64;
            let size = rest
                .iter()
                .take(APPLY_CHUNK)
                .take_while(|meta| {
                    bytes += u64::from(meta.size_bytes);
                    bytes <= APPLY_CHUNK_BYTES
                })
                .count()
                .max(1);
            // A chunk ends where a role notification waits, so the state machine hears
            // of the change right after the entries committed before it (log order).
            let first = rest[0].log_id.index;
            let size = match self.notifications.front() {
                Some((after, _)) if *after >= first => {
                    size.min(usize::try_from(after.0 - first.0 + 1).unwrap_or(usize::MAX))
                }
                _ => size,
            };
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            if self.failed.is_some() {
                return;
            }
            let Some(last) = chunk.last().map(|meta| meta.log_id.index) else {
                continue;
            };
            // The payloads: at hand, read here from a store that never blocks, or read
            // off this task (the chunk waits in the queue, and what follows it).
            let (payloads, reading) = match self.payloads.take_for_apply(chunk) {
                Some(payloads) => (payloads, false),
                None if self.reader.inline() => match self.payloads.for_entries(chunk) {
                    Ok(payloads) => (payloads, false),
                    Err(error) => {
                        // Committed entries are durable here: unreadable is a storage
                        // failure.
                        self.fail(NodeFailure::Storage(error));
                        return;
                    }
                },
                None => (vec![Bytes::new(); chunk.len()], true),
            };
            let mut items = Vec::with_capacity(chunk.len());
            for (meta, data) in chunk.iter().zip(payloads) {
                let log_id = meta.log_id;
                let task = self.tasks.take_applied(log_id);
                match &meta.kind {
                    EntryKind::Normal => {
                        let (context, completion, on_committed) = match task {
                            Some(task) => (task.context, Some(task.completion), task.on_committed),
                            None => (None, None, None),
                        };
                        // The hook runs in the FSM caller, where a panic is contained (a
                        // blocking state machine's caller is a thread of its own; a
                        // non-blocking one's runs in this loop, so its hooks must be quick).
                        items.push(ApplyItem::Client {
                            entry: CommittedEntry {
                                log_id,
                                data,
                                context,
                                awaited: completion.is_some(),
                            },
                            completion,
                            on_committed,
                        });
                    }
                    EntryKind::Blank => items.push(ApplyItem::Blank(log_id)),
                    EntryKind::Configuration(configuration) => {
                        items.push(ApplyItem::Configuration(log_id, (**configuration).clone()))
                    }
                }
            }
            self.payloads.remove_through(last);
            self.handed_over = last;
            if reading {
                let ticket = self.reader.start_apply(chunk.to_vec());
                self.fsm_outbox
                    .push_back(Outgoing::Reading { ticket, items });
            } else {
                self.send_to_fsm(FsmJob::Apply(items));
            }
            self.release_notifications();
        }
        self.release_reads();
    }

    /// A batch of reads from `Node` handles: one `Input::ReadIndex` per read option.
    async fn on_reads(&mut self, first: ReadRequest<S>) {
        let mut batch = vec![first];
        while batch.len() < self.options.propose_batch {
            match self.queues.reads.try_recv() {
                Ok(read) => batch.push(read),
                Err(_) => break,
            }
        }
        self.metrics.read_index_batch(batch.len());
        if let Some(failure) = &self.failed {
            let error = ReadError::NodeInError {
                failure: failure.clone(),
            };
            for read in batch {
                read.job.fail(error.clone());
            }
            return;
        }
        let (lease, safe): (Vec<_>, Vec<_>) = batch.into_iter().partition(|read| read.lease);
        for (jobs, lease) in [(safe, false), (lease, true)] {
            if jobs.is_empty() {
                continue;
            }
            let ids = self
                .reads
                .ask(jobs.into_iter().map(|read| read.job).collect());
            // The lease is measured on this node's clock, in nanoseconds (the core's
            // `read_lease` is in the same unit).
            let lease_now = lease
                .then(|| u64::try_from(self.timers.clock().now().as_nanos()).unwrap_or(u64::MAX));
            self.step(Input::ReadIndex { ids, lease_now }).await;
        }
    }

    /// The core's answer to reads: the index goes back to `read_index` callers; reads
    /// to run wait until the state machine has been handed the index.
    fn read_ready(
        &mut self,
        ids: Vec<RequestId>,
        result: Result<LogIndex, crate::core::ReadIndexError<PeerId>>,
    ) {
        for id in ids {
            let Some(job) = self.reads.answered(id) else {
                continue;
            };
            match (&result, job) {
                (Err(error), job) => {
                    job.fail(ReadError::from_core(error.clone(), self.failed.as_ref()));
                }
                (Ok(index), ReadJob::Index(answer)) => {
                    let _ = answer.send(Ok(*index));
                }
                (Ok(index), ReadJob::Run(read)) => self.reads.park(*index, read),
            }
        }
        self.release_reads();
    }

    /// Queues the parked reads whose index has been handed to the state machine: the
    /// state machine runs them after the entries through it.
    fn release_reads(&mut self) {
        if self.failed.is_some() {
            return;
        }
        for read in self.reads.ready(self.handed_over) {
            self.send_to_fsm(FsmJob::Read(Box::new(move |state_machine: &S| {
                read(Ok(state_machine))
            })));
        }
    }

    fn role_changed(
        &mut self,
        role: Role,
        term: Term,
        leader: Option<PeerId>,
        commit_index: LogIndex,
    ) {
        event!(
            info,
            role = ?role,
            term = term.0,
            leader = %leader.as_ref().map_or_else(|| "none".to_string(), ToString::to_string),
            commit_index = commit_index.0,
            "role changed"
        );
        // An election round: a new pre-vote round, or a campaign for a new term.
        if role != self.role_view.0 || term != self.role_view.1 {
            self.metrics.role(role);
        }
        let (old_role, old_term, old_leader) =
            std::mem::replace(&mut self.role_view, (role, term, leader.clone()));
        let me = &self.options.peer;
        let followed = |role: Role, leader: Option<PeerId>| {
            leader.filter(|l| role == Role::Follower && l != me)
        };
        let (followed_before, followed_now) =
            (followed(old_role, old_leader), followed(role, leader));
        let status = match &self.failed {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        };
        let context =
            |leader: PeerId, term: Term, status: Result<(), NodeFailure>| LeaderChangeContext {
                leader,
                term,
                status,
            };
        let mut jobs = Vec::new();
        if old_role == Role::Leader && role != Role::Leader {
            // Committed tasks are answered by their apply; the rest may still commit
            // under a later leader, or never.
            self.tasks.leadership_lost(commit_index);
            jobs.push(FsmJob::LeaderStop(context(
                me.clone(),
                old_term,
                status.clone(),
            )));
        }
        if followed_before != followed_now {
            if let Some(old) = followed_before {
                jobs.push(FsmJob::StopFollowing(context(
                    old,
                    old_term,
                    status.clone(),
                )));
            }
            if let Some(new) = followed_now {
                jobs.push(FsmJob::StartFollowing(context(new, term, Ok(()))));
            }
        }
        if role == Role::Leader && old_role != Role::Leader {
            jobs.push(FsmJob::LeaderStart(context(me.clone(), term, Ok(()))));
        }
        self.notifications
            .extend(jobs.into_iter().map(|job| (commit_index, job)));
        self.release_notifications();
    }

    /// Delivers the role notifications whose entries have all been handed over; on a
    /// failed node, all of them (nothing more will be handed over, and an application
    /// must still hear that its leadership ended).
    fn release_notifications(&mut self) {
        while self
            .notifications
            .front()
            .is_some_and(|(after, _)| *after <= self.handed_over || self.failed.is_some())
        {
            if let Some((_, job)) = self.notifications.pop_front() {
                self.send_to_fsm(job);
            }
        }
    }

    /// Queues a job for the state machine, in order; the step hands it over at its end
    /// (`flush_fsm`).
    fn send_to_fsm(&mut self, job: FsmJob<S>) {
        self.fsm_outbox.push_back(Outgoing::Ready(job));
    }

    /// Hands the queued jobs to the state machine, in order, up to the first apply
    /// chunk still waiting for its payloads: runs them here for a state machine this
    /// loop calls itself, else sends them to its caller, waiting while its queue is full
    /// (the apply's back-pressure). If the caller is gone, the node fails and the jobs'
    /// tasks hear it.
    async fn flush_fsm(&mut self) {
        while matches!(self.fsm_outbox.front(), Some(Outgoing::Ready(_))) {
            let Some(Outgoing::Ready(job)) = self.fsm_outbox.pop_front() else {
                break;
            };
            if let Some(fsm) = self.queues.inline_fsm.as_mut() {
                fsm.handle(job, &mut self.fsm_reports);
                continue;
            }
            if let Err(job) = cooperative(self.queues.fsm_jobs.send(job)).await {
                let failure = NodeFailure::TaskStopped("state machine thread".into());
                let hooks_may_block = self.hooks_may_block();
                if let FsmJob::Apply(items) = job {
                    answer_unapplied(items, Some(failure.clone()), hooks_may_block);
                }
                self.drain_outbox(|items| {
                    answer_unapplied(items, Some(failure.clone()), hooks_may_block)
                });
                self.fail(failure);
            }
        }
    }

    /// Empties the queue to the state machine, handing the items of every apply in it
    /// to `answer` (which answers their tasks).
    fn drain_outbox(&mut self, mut answer: impl FnMut(Vec<ApplyItem<S>>)) {
        for outgoing in self.fsm_outbox.drain(..) {
            match outgoing {
                Outgoing::Ready(FsmJob::Apply(items)) | Outgoing::Reading { items, .. } => {
                    answer(items)
                }
                Outgoing::Ready(_) => {}
            }
        }
    }

    async fn on_write_done(&mut self, done: WriteDone) {
        match done {
            WriteDone::Durable(seq) => self.step(Input::Persisted { seq }).await,
            WriteDone::Failed(error) => self.fail(NodeFailure::Storage(error)),
        }
    }

    /// Steps the reports of the state machine this loop runs (`InlineFsm`), in order.
    /// One round: the reports of the applies these lead to wait for the loop's next pass.
    async fn take_fsm_reports(&mut self) {
        for done in std::mem::take(&mut self.fsm_reports) {
            self.on_fsm_done(done).await;
        }
    }

    async fn on_fsm_done(&mut self, done: FsmDone) {
        match done {
            FsmDone::Applied(index) => {
                self.applied = self.applied.max(index);
                self.step(Input::Applied { index }).await;
            }
            FsmDone::Restored(index) => self.applied = self.applied.max(index),
            FsmDone::Failed(failure) => self.fail(failure),
        }
    }

    /// Shows the core to the simulation's observer, if any; with `check_invariants` on,
    /// a violated core invariant is fatal for the node.
    fn check_core(&mut self) {
        if let Some(faults) = &self.options.faults {
            faults.observe(&self.core);
        }
        if self.options.check_invariants {
            if let Err(violation) = self.core.check_invariants() {
                self.fail(NodeFailure::Internal(violation.to_string()));
            }
        }
    }

    fn fail(&mut self, failure: NodeFailure) {
        if self.failed.is_some() {
            return;
        }
        event!(
            error,
            failure = %failure,
            "node failed: it steps aside (no leading, voting or campaigning) until restarted"
        );
        self.tasks.fail_all(&failure);
        self.reads.fail_all(&ReadError::NodeInError {
            failure: failure.clone(),
        });
        for waiter in self.snapshot_waiters.drain(..) {
            let _ = waiter.send(Err(SnapshotError::NodeFailed {
                failure: failure.clone(),
            }));
        }
        self.failed = Some(failure);
    }

    fn publish_status(&mut self) {
        self.events_unpublished = 0;
        self.metrics.state(&self.core, self.applied);
        let view = DriverView {
            applied_index: self.applied,
            pending_tasks: self.tasks.len(),
            frames_rejected: self.frames_rejected,
            snapshots_installed: self.snapshots_installed,
            failure: self.failed.as_ref(),
        };
        self.status.publish(&self.core, view);
    }

    /// Whether the state machine's hooks may block: it runs on a thread of its own
    /// (not on this loop), outside a simulation. Hooks of entries this node will not
    /// apply then run on the blocking pool too (`answer_unapplied`).
    fn hooks_may_block(&self) -> bool {
        self.queues.inline_fsm.is_none() && self.options.faults.is_none()
    }

    fn shut_down(&mut self) {
        event!(info, "node stopped");
        // The last events' effects (the applied index, a failure) stay readable in the
        // closed status.
        self.publish_status();
        if let Some(fetch) = self.fetch.take() {
            fetch.task.abort();
        }
        for waiter in self.snapshot_waiters.drain(..) {
            let _ = waiter.send(Err(SnapshotError::Stopped));
        }
        self.status.close();
        // Apply chunks still waiting for their payloads: their entries are committed,
        // but this node will not apply them now (a restart does).
        let hooks_may_block = self.hooks_may_block();
        self.drain_outbox(|items| answer_unapplied(items, None, hooks_may_block));
        self.tasks.shut_down();
        self.reads.fail_all(&ReadError::ShuttingDown);
        self.queues.reads.close();
        while let Ok(read) = self.queues.reads.try_recv() {
            read.job.fail(ReadError::ShuttingDown);
        }
        self.queues.proposals.close();
        while let Ok(proposal) = self.queues.proposals.try_recv() {
            let _ = proposal.completion.send(Err(ApplyError::ShuttingDown));
        }
        if let Some(fsm) = self.queues.inline_fsm.take() {
            fsm.finish();
        }
    }
}
