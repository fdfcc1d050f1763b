//! The driver: the one task that owns a node's `RaftCore`. It turns frames, proposals,
//! timer expiries and completions into core inputs, and carries out the core's actions
//! — nothing more. Every protocol decision is the core's.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use concord_sync::{queue, shutdown, status};
use tokio::sync::mpsc;
use tokio::task::coop::cooperative;
use tokio::time::Instant;

use super::clock::{Clock, Jitter};
use super::error::{ApplyError, NodeFailure};
use super::faults::SendFault;
use super::fsm::{ApplyItem, Completion, FsmDone, FsmJob};
use super::node::{NodeStatus, Proposal};
use super::options::NodeOptions;
use super::payloads::PayloadCache;
use super::state_machine::{CommittedEntry, StateMachine};
use super::store::{LogStore, StoredEntry};
use super::writer::{WriteDone, WriteJob};
use crate::core::{
    Action, EntryKind, EntryMeta, Input, LogId, LogIndex, Message, PeerId, PersistQueue,
    Proposal as CoreProposal, ProposeError, RaftCore, RequestId, Role, Term, Timer,
};
use crate::transport::{RaftFrame, Transport};

/// Most committed entries read for the state machine at once.
const APPLY_CHUNK: u64 = 1024;

/// Entries handed to the state machine and not yet applied: no new chunk is handed
/// over while this many are (so at most this plus one chunk).
const MAX_APPLY_AHEAD: u64 = 4 * APPLY_CHUNK;

/// Committed entries not yet applied beyond which a leader takes no new proposals (they
/// wait in the bounded proposal queue): a slow state machine slows the clients down
/// instead of growing the backlog.
const MAX_APPLY_BACKLOG: u64 = 16 * APPLY_CHUNK;

/// A proposal accepted into the log, waiting for commit and apply.
struct PendingTask<S: StateMachine> {
    log_id: LogId,
    on_committed: Option<Box<dyn FnOnce(LogId) + Send>>,
    context: Option<S::Context>,
    completion: Completion<S::Response>,
}

pub(crate) struct Channels<S: StateMachine> {
    pub(crate) inbound: mpsc::Receiver<RaftFrame>,
    pub(crate) proposals: mpsc::Receiver<Proposal<S>>,
    pub(crate) stop: shutdown::Listener,
    pub(crate) writer_jobs: queue::Sender<WriteJob>,
    pub(crate) writer_done: queue::Receiver<WriteDone>,
    pub(crate) fsm_jobs: queue::Sender<FsmJob<S>>,
    pub(crate) fsm_done: queue::Receiver<FsmDone>,
    /// The status, and with it the flag `Node::apply`'s lock-free fast path reads
    /// (leader and not failed). Dropping it (a panic) clears the flag too.
    pub(crate) status: status::Publisher<NodeStatus>,
}

pub(crate) struct Driver<S: StateMachine> {
    options: NodeOptions,
    core: RaftCore<PeerId>,
    store: Arc<dyn LogStore>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    jitter: Jitter,
    channels: Channels<S>,
    next_request: u64,
    /// Proposals handed to the core in the step in progress.
    proposing: BTreeMap<RequestId, Proposal<S>>,
    /// Accepted proposals by log index.
    /// Accepted tasks waiting for apply, in log order (indices strictly increase).
    inflight: VecDeque<PendingTask<S>>,
    /// Payloads of entries not yet applied, by (index, term): proposals on the leader,
    /// received entries on followers. Misses fall back to the store.
    payloads: PayloadCache,
    election_deadline: Option<Instant>,
    heartbeat_deadline: Option<Instant>,
    /// The timers' deadlines in the clock's local time (recomputed into `Instant`s
    /// whenever the clock is adjusted).
    election_local: std::time::Duration,
    heartbeat_local: std::time::Duration,
    clock_generation: u64,
    /// The step's writes on their way to the log writer (empty between steps).
    writes: PersistQueue<PeerId, StoredEntry>,
    /// Highest index the state machine reported applied.
    applied: LogIndex,
    /// Committed entries not yet handed to the state machine: `apply_next..=apply_target`.
    /// They are handed over in chunks, a bounded number of entries ahead of `applied`,
    /// so a long catch-up (a restart replaying a large log) never holds more than a
    /// few chunks of payloads in memory.
    apply_next: LogIndex,
    apply_target: LogIndex,
    failed: Option<NodeFailure>,
    role_view: (Role, Term, Option<PeerId>),
    frames_rejected: u64,
    status_cache: StatusCache,
}

/// The parts of the status that are costly to render, kept until they change.
#[derive(Default)]
struct StatusCache {
    configuration: Option<crate::core::ConfigurationEntry<PeerId>>,
    voters: Vec<String>,
    learners: Vec<String>,
    alive: Vec<PeerId>,
    alive_strings: Vec<String>,
    leader: Option<PeerId>,
    leader_string: Option<String>,
}

impl<S: StateMachine> Driver<S> {
    pub(crate) fn new(
        options: NodeOptions,
        core: RaftCore<PeerId>,
        store: Arc<dyn LogStore>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        channels: Channels<S>,
    ) -> Self {
        let jitter = Jitter::new(options.jitter_seed);
        let applied = core.log_start().index;
        let role_view = (core.role(), core.term(), core.leader().cloned());
        Driver {
            options,
            core,
            store,
            transport,
            clock,
            jitter,
            channels,
            next_request: 0,
            proposing: BTreeMap::new(),
            inflight: VecDeque::new(),
            payloads: PayloadCache::new(),
            election_deadline: None,
            heartbeat_deadline: None,
            election_local: std::time::Duration::ZERO,
            heartbeat_local: std::time::Duration::ZERO,
            clock_generation: 0,
            writes: PersistQueue::new(),
            applied,
            apply_next: applied.next(),
            apply_target: applied,
            failed: None,
            role_view,
            frames_rejected: 0,
            status_cache: StatusCache::default(),
        }
    }

    pub(crate) async fn run(mut self) {
        let start = self.core.start();
        self.execute(start).await;
        self.publish_status();
        // Timers are two long-lived sleeps, reset only when a deadline changes: creating
        // fresh ones on every loop iteration costs a timer-wheel insert each time.
        let far = || Instant::now() + std::time::Duration::from_secs(86_400 * 365);
        let election = tokio::time::sleep_until(far());
        let heartbeat = tokio::time::sleep_until(far());
        tokio::pin!(election, heartbeat);
        let mut armed = (None, None);
        self.clock_generation = self.clock.generation();
        let clock_changed = self.clock.notifier();
        loop {
            if self.clock.generation() != self.clock_generation {
                self.rebase_timers();
            }
            if armed.0 != self.election_deadline {
                armed.0 = self.election_deadline;
                election
                    .as_mut()
                    .reset(self.election_deadline.unwrap_or_else(far));
            }
            if armed.1 != self.heartbeat_deadline {
                armed.1 = self.heartbeat_deadline;
                heartbeat
                    .as_mut()
                    .reset(self.heartbeat_deadline.unwrap_or_else(far));
            }
            // `biased`: completions first (they unblock everything else), then timers
            // (so a flood of frames cannot starve heartbeats), then frames, then new
            // work. A fixed order also keeps simulated runs deterministic. The
            // `concord_sync` futures are made `cooperative` as tokio's channels are.
            tokio::select! {
                biased;
                Some(done) = cooperative(self.channels.writer_done.recv()) => self.on_write_done(done).await,
                Some(done) = cooperative(self.channels.fsm_done.recv()) => self.on_fsm_done(done).await,
                _ = cooperative(self.channels.stop.stopped()) => break,
                // The clock was adjusted: the loop's head recomputes the timers.
                _ = async {
                    match &clock_changed {
                        Some(notify) => notify.notified().await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = &mut heartbeat, if self.heartbeat_deadline.is_some() => {
                    self.heartbeat_deadline = None;
                    self.step(Input::Timeout(Timer::Heartbeat)).await;
                }
                _ = &mut election, if self.election_deadline.is_some() => {
                    self.election_deadline = None;
                    self.step(Input::Timeout(Timer::Election)).await;
                }
                Some(frame) = self.channels.inbound.recv() => self.on_frame(frame).await,
                Some(first) = self.channels.proposals.recv(),
                    if self.apply_target.0.saturating_sub(self.applied.0) < MAX_APPLY_BACKLOG =>
                {
                    self.on_proposals(first).await
                }
            }
            // A failure (storage, state machine, a broken core invariant) is the core's
            // to act on: it steps aside — a leader steps down and goes quiet, no node
            // campaigns or votes — so the rest of the group carries on without it.
            if self.failed.is_some() && !self.core.is_failed() {
                self.step(Input::Fail).await;
            }
            self.publish_status();
        }
        self.shut_down();
    }

    async fn step(&mut self, input: Input<PeerId>) {
        self.step_core(input).await;
    }

    /// One core step. A failure raised since the last one (by the writer, the state
    /// machine, an invariant check, in the middle of a pass of the event loop) reaches
    /// the core first, in place of `input`, which a failed core would ignore anyway:
    /// nothing is stepped into a core that should already have stepped aside.
    async fn step_core(&mut self, input: Input<PeerId>) {
        let input = if self.failed.is_some() && !self.core.is_failed() {
            Input::Fail
        } else {
            input
        };
        let actions = self.core.step(input);
        self.check_core();
        self.execute(actions).await;
    }

    async fn execute(&mut self, actions: Vec<Action<PeerId>>) {
        // The queue is kept between steps for its capacity (taken out for the borrow).
        let mut writes = std::mem::take(&mut self.writes);
        for action in actions {
            let action = match writes.offer(action, |meta| self.stored_entry(meta)) {
                Ok(Some(action)) => action,
                Ok(None) => continue,
                Err(failure) => {
                    // Persisting an empty payload would corrupt the log silently.
                    self.fail(failure);
                    return;
                }
            };
            match action {
                Action::Send { to, message } => self.send(to, message),
                Action::ResetTimer(timer) => self.arm(timer),
                Action::CancelTimer(Timer::Election) => self.election_deadline = None,
                Action::CancelTimer(Timer::Heartbeat) => self.heartbeat_deadline = None,
                Action::ProposalAccepted { id, log_id } => self.accepted(id, log_id),
                Action::ProposalRejected { id, error } => self.rejected(id, error),
                Action::Apply { first, last } => {
                    debug_assert_eq!(first, self.apply_target.next(), "applies are contiguous");
                    self.apply_target = self.apply_target.max(last);
                }
                Action::RoleChanged { role, term, leader } => {
                    self.role_changed(role, term, leader).await
                }
                // `offer` queued the writes.
                Action::SaveHardState { .. }
                | Action::TruncateLog { .. }
                | Action::AppendLog { .. } => {}
            }
        }
        let mut early_report = None;
        let job = writes.take_all();
        self.writes = writes;
        if let Some(job) = job {
            // Teeth tests only: an executor that reports writes durable before they are.
            if self
                .options
                .faults
                .as_ref()
                .is_some_and(|faults| faults.reports_before_durable(&job.writes))
            {
                early_report = Some(job.persisted());
            }
            if cooperative(self.channels.writer_jobs.send(job))
                .await
                .is_err()
            {
                self.fail(NodeFailure {
                    reason: "log writer stopped".into(),
                });
                early_report = None;
            }
        }
        self.pump_apply().await;
        // After this step's applies, so that the next step's come after them.
        if let Some(report) = early_report {
            Box::pin(self.step(report)).await;
        }
    }

    fn arm(&mut self, timer: Timer) {
        let local = match timer {
            Timer::Election => {
                self.options.election_timeout + self.jitter.below(self.options.max_election_delay)
            }
            Timer::Heartbeat => self.options.heartbeat_interval(),
        };
        let deadline = Instant::now() + self.clock.real_duration(local);
        let local_deadline = self.clock.now() + local;
        match timer {
            Timer::Election => {
                self.election_deadline = Some(deadline);
                self.election_local = local_deadline;
            }
            Timer::Heartbeat => {
                self.heartbeat_deadline = Some(deadline);
                self.heartbeat_local = local_deadline;
            }
        }
    }

    /// After a clock adjustment (rate change or step), re-derives each armed timer's
    /// runtime deadline from its local deadline: a clock stepped forward fires its
    /// timers early (at once if they are now due), one stepped back fires them late.
    fn rebase_timers(&mut self) {
        self.clock_generation = self.clock.generation();
        let now_local = self.clock.now();
        let now = Instant::now();
        if self.election_deadline.is_some() {
            let remaining = self.election_local.saturating_sub(now_local);
            self.election_deadline = Some(now + self.clock.real_duration(remaining));
        }
        if self.heartbeat_deadline.is_some() {
            let remaining = self.heartbeat_local.saturating_sub(now_local);
            self.heartbeat_deadline = Some(now + self.clock.real_duration(remaining));
        }
    }

    /// An entry to write: its metadata with its payload from the cache.
    fn stored_entry(&self, meta: EntryMeta<PeerId>) -> Result<StoredEntry, NodeFailure> {
        match self.cached_payload(&meta) {
            Some(payload) => Ok(StoredEntry { payload, meta }),
            None => Err(NodeFailure {
                reason: format!("payload of entry {} is missing", meta.log_id),
            }),
        }
    }

    fn cached_payload(&self, meta: &EntryMeta<PeerId>) -> Option<Bytes> {
        match meta.kind {
            EntryKind::Normal => self.payloads.get(meta.log_id).cloned(),
            EntryKind::Blank | EntryKind::Configuration(_) => Some(Bytes::new()),
        }
    }

    /// Payloads for entries about to be sent: from the cache, else from the store.
    fn payloads_for(&self, entries: &[EntryMeta<PeerId>]) -> Option<Vec<Bytes>> {
        let cached: Option<Vec<Bytes>> = entries
            .iter()
            .map(|meta| self.cached_payload(meta))
            .collect();
        if cached.is_some() {
            return cached;
        }
        let (first, last) = (entries.first()?.log_id.index, entries.last()?.log_id.index);
        let stored = self.store.read(first, last).ok()?;
        let matches = stored.len() == entries.len()
            && stored
                .iter()
                .zip(entries)
                .all(|(s, e)| s.meta.log_id == e.log_id);
        matches.then(|| stored.into_iter().map(|s| s.payload).collect())
    }

    fn send(&mut self, to: PeerId, message: Message<PeerId>) {
        // The core delivers its own vote to itself; it never addresses this node.
        if to == self.options.peer {
            return;
        }
        let payloads = match &message {
            Message::Append(request) => match self.payloads_for(&request.entries) {
                Some(payloads) => payloads,
                // Not yet readable (still being written): skip; Raft retransmits.
                None => return,
            },
            _ => Vec::new(),
        };
        let fault = match &self.options.faults {
            Some(faults) => faults.send(&to, &message),
            None => SendFault::Deliver,
        };
        let endpoint = to.endpoint().clone();
        let frame = RaftFrame {
            group: self.options.group.clone(),
            from: self.options.peer.clone(),
            to,
            message,
            payloads,
        };
        // Failures are counted by the transport; the core retransmits what matters.
        match fault {
            SendFault::Deliver => {
                let _ = self.transport.send(&endpoint, frame);
            }
            SendFault::Drop => {}
            SendFault::Duplicate => {
                let _ = self.transport.send(&endpoint, frame.clone());
                let _ = self.transport.send(&endpoint, frame);
            }
            SendFault::Delay(delay) => {
                let transport = Arc::clone(&self.transport);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = transport.send(&endpoint, frame);
                });
            }
            SendFault::Replay(delay) => {
                let _ = self.transport.send(&endpoint, frame.clone());
                let transport = Arc::clone(&self.transport);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = transport.send(&endpoint, frame);
                });
            }
        }
    }

    /// Routes a frame to the core. Only misaddressed frames (another group, another
    /// node) are the driver's to refuse; who may say what is the core's decision.
    async fn on_frame(&mut self, frame: RaftFrame) {
        if frame.group != self.options.group || frame.to != self.options.peer {
            self.frames_rejected += 1;
            return;
        }
        if let Message::Append(request) = &frame.message {
            // Only indices the core could append (an append must continue the log) are
            // cached, so a hostile index cannot make the cache allocate without bound.
            let reachable = self.core.last_log_id().index.0 + request.entries.len() as u64;
            for (meta, payload) in request.entries.iter().zip(&frame.payloads) {
                if meta.log_id.index >= self.apply_next
                    && meta.log_id.index.0 <= reachable
                    && matches!(meta.kind, EntryKind::Normal)
                {
                    self.payloads.insert(meta.log_id, payload.clone());
                }
            }
        }
        self.step(Input::Message {
            from: frame.from,
            message: frame.message,
        })
        .await;
    }

    async fn on_proposals(&mut self, first: Proposal<S>) {
        let mut batch = vec![first];
        while batch.len() < self.options.propose_batch {
            match self.channels.proposals.try_recv() {
                Ok(proposal) => batch.push(proposal),
                Err(_) => break,
            }
        }
        if let Some(failure) = &self.failed {
            for proposal in batch {
                let _ = proposal.completion.send(Err(ApplyError::NodeFailed {
                    reason: failure.reason.clone(),
                }));
            }
            return;
        }
        let mut inputs = Vec::with_capacity(batch.len());
        for proposal in batch {
            self.next_request += 1;
            let id = RequestId(self.next_request);
            inputs.push(CoreProposal {
                id,
                size_bytes: u32::try_from(proposal.data.len()).unwrap_or(u32::MAX),
                expected_term: proposal.expected_term,
            });
            self.proposing.insert(id, proposal);
        }
        self.step(Input::Propose(inputs)).await;
    }

    fn accepted(&mut self, id: RequestId, log_id: LogId) {
        let Some(proposal) = self.proposing.remove(&id) else {
            return;
        };
        self.payloads.insert(log_id, proposal.data);
        // A leader's new entries follow its earlier ones; anything at or past this index
        // was overwritten (a previous term's tail) and will never apply as proposed.
        while self
            .inflight
            .back()
            .is_some_and(|task| task.log_id.index >= log_id.index)
        {
            if let Some(task) = self.inflight.pop_back() {
                let _ = task.completion.send(Err(ApplyError::LeadershipLost));
            }
        }
        self.inflight.push_back(PendingTask {
            log_id,
            on_committed: proposal.on_committed,
            context: proposal.context,
            completion: proposal.completion,
        });
    }

    fn rejected(&mut self, id: RequestId, error: ProposeError<PeerId>) {
        let Some(proposal) = self.proposing.remove(&id) else {
            return;
        };
        let error = match error {
            ProposeError::NotLeader { leader_hint } => ApplyError::NotLeader { leader_hint },
            ProposeError::TermMismatch { expected, actual } => {
                ApplyError::TermMismatch { expected, actual }
            }
            ProposeError::TransferInProgress => ApplyError::TransferInProgress,
            ProposeError::Overloaded => ApplyError::Overloaded,
        };
        let _ = proposal.completion.send(Err(error));
    }

    /// Hands committed entries to the state machine, chunk by chunk, while fewer than
    /// `MAX_APPLY_AHEAD` entries are handed over and not yet applied.
    async fn pump_apply(&mut self) {
        self.hand_over(MAX_APPLY_AHEAD).await;
    }

    /// Hands every committed entry not yet handed over to the state machine, however far
    /// ahead that is (role changes; the backlog is bounded by `MAX_APPLY_BACKLOG` on a
    /// leader).
    async fn flush_apply(&mut self) {
        self.hand_over(u64::MAX).await;
    }

    /// Hands chunks over while fewer than `max_ahead` entries wait in the state machine.
    async fn hand_over(&mut self, max_ahead: u64) {
        while self.apply_next <= self.apply_target && self.failed.is_none() {
            if self.apply_next.0.saturating_sub(self.applied.0 + 1) >= max_ahead {
                break;
            }
            let first = self.apply_next;
            let last = LogIndex(
                self.apply_target
                    .0
                    .min(first.0.saturating_add(APPLY_CHUNK - 1)),
            );
            self.apply_next = last.next();
            self.apply(first, last).await;
        }
    }

    /// Hands committed entries `first..=last` (one chunk) to the FSM caller. They are
    /// durable here (the core never commits past its durable index).
    async fn apply(&mut self, first: LogIndex, last: LogIndex) {
        let mut items = Vec::new();
        let mut index = first;
        let metas: Vec<EntryMeta<PeerId>> = std::iter::from_fn(|| {
            if index > last {
                return None;
            }
            let meta = self.core.entry_meta(index);
            index = index.next();
            meta
        })
        .collect();
        let Some(payloads) = self.payloads_for(&metas) else {
            self.fail(NodeFailure {
                reason: format!("committed entries {first}..={last} cannot be read"),
            });
            return;
        };
        for (meta, data) in metas.into_iter().zip(payloads) {
            let log_id = meta.log_id;
            // Tasks below this index cannot apply any more (their entries were
            // replaced); the one at it applies if its term matches.
            while self
                .inflight
                .front()
                .is_some_and(|task| task.log_id.index < log_id.index)
            {
                if let Some(task) = self.inflight.pop_front() {
                    let _ = task.completion.send(Err(ApplyError::LeadershipLost));
                }
            }
            let pending = if self
                .inflight
                .front()
                .is_some_and(|task| task.log_id.index == log_id.index)
            {
                self.inflight.pop_front()
            } else {
                None
            };
            match meta.kind {
                EntryKind::Normal => {
                    let (context, completion, on_committed) = match pending {
                        Some(task) if task.log_id == log_id => {
                            (task.context, Some(task.completion), task.on_committed)
                        }
                        Some(task) => {
                            let _ = task.completion.send(Err(ApplyError::LeadershipLost));
                            (None, None, None)
                        }
                        None => (None, None, None),
                    };
                    let entry = CommittedEntry {
                        log_id,
                        data,
                        context,
                    };
                    // The hook runs on the FSM caller, not here: user code can neither
                    // stall nor panic the core loop.
                    items.push(ApplyItem::Client {
                        entry,
                        completion,
                        on_committed,
                    });
                }
                EntryKind::Blank => items.push(ApplyItem::Blank(log_id)),
                EntryKind::Configuration(configuration) => {
                    items.push(ApplyItem::Configuration(log_id, configuration))
                }
            }
        }
        self.payloads.remove_through(last);
        if cooperative(self.channels.fsm_jobs.send(FsmJob::Apply(items)))
            .await
            .is_err()
        {
            self.fail(NodeFailure {
                reason: "state machine caller stopped".into(),
            });
        }
    }

    async fn role_changed(&mut self, role: Role, term: Term, leader: Option<PeerId>) {
        // Everything committed so far reaches the state machine before the notification
        // (log order), and a leader's committed tasks are answered by their apply, not
        // with `LeadershipLost`.
        self.flush_apply().await;
        let (old_role, old_term, old_leader) =
            std::mem::replace(&mut self.role_view, (role, term, leader.clone()));
        let me = &self.options.peer;
        let followed = |role: Role, leader: Option<PeerId>| {
            leader.filter(|l| role == Role::Follower && l != me)
        };
        let (followed_before, followed_now) =
            (followed(old_role, old_leader), followed(role, leader));
        let mut jobs = Vec::new();
        if old_role == Role::Leader && role != Role::Leader {
            // Entries appended in our term may still commit under a later leader.
            for task in std::mem::take(&mut self.inflight) {
                let _ = task.completion.send(Err(ApplyError::LeadershipLost));
            }
            jobs.push(FsmJob::LeaderStop(old_term));
        }
        if followed_before != followed_now {
            if let Some(old) = followed_before {
                jobs.push(FsmJob::StopFollowing(old, old_term));
            }
            if let Some(new) = followed_now {
                jobs.push(FsmJob::StartFollowing(new, term));
            }
        }
        if role == Role::Leader && old_role != Role::Leader {
            jobs.push(FsmJob::LeaderStart(term));
        }
        for job in jobs {
            if cooperative(self.channels.fsm_jobs.send(job)).await.is_err() {
                break;
            }
        }
    }

    async fn on_write_done(&mut self, done: WriteDone) {
        match done {
            WriteDone::Durable(seq) => self.step(Input::Persisted { seq }).await,
            WriteDone::Failed(reason) => self.fail(NodeFailure {
                reason: format!("log storage failed: {reason}"),
            }),
        }
    }

    async fn on_fsm_done(&mut self, done: FsmDone) {
        match done {
            FsmDone::Applied(index) => {
                self.applied = self.applied.max(index);
                self.pump_apply().await;
            }
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
                self.fail(NodeFailure {
                    reason: violation.to_string(),
                });
            }
        }
    }

    fn fail(&mut self, failure: NodeFailure) {
        if self.failed.is_some() {
            return;
        }
        for task in std::mem::take(&mut self.inflight) {
            let _ = task.completion.send(Err(ApplyError::NodeFailed {
                reason: failure.reason.clone(),
            }));
        }
        self.failed = Some(failure);
    }

    /// Publishes the node's status if anything in it changed. Runs after every event,
    /// so it allocates only when the membership view changes.
    fn publish_status(&mut self) {
        let accepting = self.core.role() == Role::Leader && self.failed.is_none();
        let core = &self.core;
        let configuration = core.configuration();
        if self.status_cache.configuration.as_ref() != Some(configuration) {
            let strings = |peers: &std::collections::BTreeSet<PeerId>| -> Vec<String> {
                peers.iter().map(|p| p.to_string()).collect()
            };
            self.status_cache.voters = strings(configuration.current.voters());
            self.status_cache.learners = strings(configuration.current.learners());
            self.status_cache.configuration = Some(configuration.clone());
        }
        let alive: Vec<PeerId> = match core.role() {
            Role::Leader => configuration
                .all_members()
                .into_iter()
                .filter(|peer| {
                    *peer == self.options.peer
                        || core.progress(peer).is_some_and(|p| p.recent_active())
                })
                .collect(),
            _ => Vec::new(),
        };
        if alive != self.status_cache.alive {
            self.status_cache.alive_strings = alive.iter().map(|p| p.to_string()).collect();
            self.status_cache.alive = alive;
        }
        let leader = core.leader().cloned();
        if leader != self.status_cache.leader {
            self.status_cache.leader_string = leader.as_ref().map(|l| l.to_string());
            self.status_cache.leader = leader;
        }
        let (role, term, last_log_id) = (core.role(), core.term(), core.last_log_id());
        let (persisted_index, commit_index) = (core.persisted_index(), core.commit_index());
        let (applied_index, pending_tasks) = (self.applied, self.inflight.len());
        let frames_rejected = self.frames_rejected + self.core.dropped_messages();
        let failed = &self.failed;
        let cache = &self.status_cache;
        let status = &self.channels.status;
        status.publish_if_modified(accepting, |current| {
            let unchanged = current.role == role
                && current.term == term
                && current.last_log_id == last_log_id
                && current.persisted_index == persisted_index
                && current.commit_index == commit_index
                && current.applied_index == applied_index
                && current.pending_tasks == pending_tasks
                && current.frames_rejected == frames_rejected
                && current.failure.is_some() == failed.is_some()
                && current.leader == cache.leader_string
                && current.voters == cache.voters
                && current.learners == cache.learners
                && current.alive_peers == cache.alive_strings;
            if unchanged {
                return false;
            }
            if current.group.is_empty() {
                current.group = self.options.group.to_string();
                current.peer = self.options.peer.to_string();
            }
            current.role = role;
            current.term = term;
            current.last_log_id = last_log_id;
            current.persisted_index = persisted_index;
            current.commit_index = commit_index;
            current.applied_index = applied_index;
            current.pending_tasks = pending_tasks;
            current.frames_rejected = frames_rejected;
            current.failure = failed.as_ref().map(|f| f.reason.clone());
            current.leader.clone_from(&cache.leader_string);
            current.voters.clone_from(&cache.voters);
            current.learners.clone_from(&cache.learners);
            current.alive_peers.clone_from(&cache.alive_strings);
            true
        });
    }

    fn shut_down(&mut self) {
        // A stopped node leads nothing: callers holding its handle get `NotLeader`. The
        // close clears the fast-path flag in the same publication, for good.
        self.channels.status.close(|status| {
            status.role = Role::Follower;
            status.leader = None;
            status.alive_peers.clear();
        });
        for (_, proposal) in std::mem::take(&mut self.proposing) {
            let _ = proposal.completion.send(Err(ApplyError::ShuttingDown));
        }
        for task in std::mem::take(&mut self.inflight) {
            let _ = task.completion.send(Err(ApplyError::ShuttingDown));
        }
        self.channels.proposals.close();
        while let Ok(proposal) = self.channels.proposals.try_recv() {
            let _ = proposal.completion.send(Err(ApplyError::ShuttingDown));
        }
    }
}
