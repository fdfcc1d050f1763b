//! The server actor: a thin glue around [`RaftCore`].
//!
//! The glue makes no protocol decision. It translates stateright events into core
//! inputs and core actions into sends, timers and saves, following the core's contract
//! (see `concord::core`) exactly as `tests/common/cluster.rs` does:
//!
//! - Persistence actions (`SaveHardState`, `TruncateLog`, `AppendLog`) go into the
//!   library's [`PersistQueue`] in volatile state. They become durable only when the
//!   glue's `Persist` timer fires ([`ModelTimer::Persist`]), a step of its own: the
//!   queue (or its oldest write, `PersistMode::Each`) is applied to the durable image,
//!   the image is saved with `o.save`, and the core is told with `Input::Persisted`.
//!   The core holds back the votes and acknowledgements that wait for those writes
//!   and sends them then. A crash before that loses the whole queue (and the core
//!   with its held messages), so "acknowledged before durable" bugs are reachable.
//! - Sequence numbers: after every step the glue renumbers the core's and the queue's
//!   persistence sequence numbers so the last durable one is 0
//!   (`RaftCore::rebase_persist_seqs`): two states that differ only in how many
//!   writes led to them are one state.
//! - `Send` goes to the network at once; `ResetTimer`/`CancelTimer` arm and cancel
//!   stateright timers.
//! - Payloads: the core knows log ids only. The glue keeps each normal entry's payload
//!   beside its log id (volatile map plus durable image), attaches payloads to outgoing
//!   `Append` messages, and reads them when applying.
//! - Applying: the register state machine applies committed entries in order,
//!   deduplicating by (client, request) so that a request delivered twice (duplicating
//!   network) takes effect once. The server that accepted a proposal answers the client
//!   when it applies it; a server that lost the proposal (crash, lost leadership)
//!   answers nothing and the client keeps waiting.
//! - Restart: `on_start` rebuilds the core from the durable image with `Restored` and
//!   re-arms timers through `core.start()`.
//!
//! Fault injection for the "teeth" tests goes through the [`Glue`] trait, whose default
//! methods are the correct glue. Only test code implements it differently.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use concord::core::{
    Action, Configuration, ConfigurationEntry, CoreOptions, EntryKind, EntryMeta, Flush, HardState,
    Input, LogId, LogIndex, Message, PersistQueue, Proposal, ProposeError, RaftCore,
    ReadIndexError, RequestId, Restored, Timer, Write,
};
use stateright::actor::{model_timeout, Id, Out};

use crate::actor::ModelActor;
use crate::model::{AdminPlan, ClockModel};
use crate::types::{
    Durable, ModelSnapshot, ModelTimer, Msg, Op, Payload, ServerId, Storage, Value,
};

/// Hooks between the core and the glue, for fault injection. The default methods are
/// the correct glue and the model always uses [`CorrectGlue`]; the teeth tests implement
/// broken variants (reporting writes durable before they are, forgetting the vote on
/// restart, …) to prove the checker catches them. Broken variants live in test code only.
pub trait Glue: Debug + Send + Sync + 'static {
    /// Whether the glue tells the core that the queued writes of server `me` are
    /// durable right away, before they are (they stay queued, so a crash still loses
    /// them). Correct glue never does.
    fn reports_before_durable(&self, _me: ServerId, _queue: &Queue) -> bool {
        false
    }

    /// The hard state handed to the core on restart. Correct glue returns what is durable.
    fn restored_hard_state(&self, durable: HardState<ServerId>) -> HardState<ServerId> {
        durable
    }

    /// Whether a disk failure is reported to the core (`Input::Fail`). Correct glue
    /// reports it; a glue that swallows it keeps a node acting that can promise nothing.
    fn reports_disk_failure(&self) -> bool {
        true
    }

    /// Whether a leader answers a read from its register at once, without the core's
    /// ReadIndex round (a leader that believes it still leads). Correct glue never does.
    fn reads_without_round(&self) -> bool {
        false
    }
}

/// The glue as the core's contract requires it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CorrectGlue;

impl Glue for CorrectGlue {}

/// How much of a server's persistence queue one `Persist` event makes durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PersistMode {
    /// Everything queued when the event fires (one fsync covers all earlier writes).
    #[default]
    Whole,
    /// Only the oldest persistence action (and the messages waiting for it): crashes
    /// can also land between two writes of one step. More states.
    Each,
    /// No lag at all: every step's writes are durable before the step ends, as with an
    /// instant disk. There is no window for a crash to fall into, so this is only for
    /// configurations without crashes, where it removes the persistence interleavings
    /// and leaves the message interleavings (stale votes and appends, Figure 8).
    Immediate,
}

/// An entry as the glue writes it: its metadata and, for a normal entry, its payload.
pub type QueuedEntry = (EntryMeta<ServerId>, Option<Payload>);

/// A server's writes not yet durable: the library's queue with the glue's entries.
pub type Queue = PersistQueue<ServerId, QueuedEntry>;

/// A server's state: the core, plus what the glue needs to carry out its actions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerState {
    /// The pure Raft core: every protocol decision happens in here.
    pub core: RaftCore<ServerId>,
    /// Payloads of the normal entries in the core's log (durable or not).
    pub payloads: BTreeMap<LogId, Payload>,
    /// Writes not yet durable, in order.
    pub pending: Queue,
    /// A copy of the durable image (what `o.save` last stored).
    pub durable: Durable,
    /// Proposals this server accepted and must answer when applied.
    pub waiting: BTreeMap<LogId, Payload>,
    /// The register state machine.
    pub register: Value,
    /// The last request applied per client, with its answer (Raft §8 sessions).
    pub sessions: BTreeMap<Id, (RequestId, Msg)>,
    /// Log ids of the applied entries, in order (State Machine Safety compares these).
    pub applied: Vec<LogId>,
    /// True when this incarnation started from a crash (not the initial start).
    pub recovered: bool,
    /// The disk failed in this incarnation: writes are refused (never become durable).
    pub disk_failed: bool,
    /// A snapshot fetched from a leader, waiting for its `InstallSnapshot` write.
    pub staged: Option<ModelSnapshot>,
    /// Reads waiting for their read index (`Input::ReadIndex`), by request: the client.
    pub reads: BTreeMap<RequestId, Id>,
    /// Reads with a read index, answered once the register has applied through it.
    pub ready_reads: BTreeSet<(LogIndex, RequestId, Id)>,
    /// With `ModelConfig::clock`: the clock reading before which the election timer
    /// cannot fire (0 without a clock).
    pub election_deadline: u8,
}

/// The server actor's fixed parameters.
#[derive(Clone, Debug)]
pub struct ServerActor {
    /// Number of servers (all voters).
    pub server_count: usize,
    /// Options handed to the core.
    pub options: CoreOptions,
    /// How much one `Persist` event makes durable.
    pub persist_mode: PersistMode,
    /// Fault-injection hooks ([`CorrectGlue`] outside the teeth tests).
    pub glue: Arc<dyn Glue>,
    /// Whether disks may fail (`ModelConfig::disk_failures` > 0): each incarnation
    /// arms one `DiskFailure` timer.
    pub disk_failures: bool,
    /// Whether servers are asked for snapshots (`ModelConfig::snapshots` > 0): the
    /// `Snapshot` timer stays armed.
    pub snapshots: bool,
    /// Servers `s0..s{voters-1}` start as voters; the others outside the cluster.
    pub voters: usize,
    /// What the operator asks of the leader (the `Admin` timer stays armed unless none).
    pub admin: AdminPlan,
    /// Clocks and timed election timers (`ModelConfig::clock`).
    pub clock: Option<ClockModel>,
    /// Pairs of servers that never hear each other (`ModelConfig::partition`).
    pub partition: Vec<(u8, u8)>,
}

/// Where the payloads of entries being appended come from in one step.
enum PayloadSource<'a> {
    /// No entries can arrive in this step.
    None,
    /// An `Append` message's payloads.
    Message(&'a [(LogId, Payload)]),
    /// A client proposal (its log id is learned from `ProposalAccepted`).
    Proposal(Payload),
    /// An `InstallSnapshot` request's data (a `FetchSnapshot` takes it).
    Snapshot(&'a ModelSnapshot),
}

impl ServerActor {
    /// The initial configuration of server `me`: the first `voters` servers, or empty
    /// for a server that starts outside the cluster.
    fn configuration(&self, me: ServerId) -> ConfigurationEntry<ServerId> {
        if usize::from(me.0) >= self.voters {
            return ConfigurationEntry::stable(concord::core::Configuration::default());
        }
        let voters = (0..self.voters).map(|i| ServerId(i as u8));
        ConfigurationEntry::stable(concord::core::Configuration::with_voters(voters))
    }

    /// `Actor::on_start`: restore the core from the durable image.
    pub(crate) fn on_start(
        &self,
        id: Id,
        storage: Option<&Durable>,
        o: &mut Out<ModelActor>,
    ) -> ServerState {
        let me = ServerId::from_actor_id(id);
        let mut durable = storage.cloned().unwrap_or_default();
        if storage.is_some() {
            durable.counters.restarts = durable.counters.restarts.saturating_add(1);
        }
        // Saved even when empty, so that a later restart can tell it is a recovery.
        o.save(Storage::Server(durable.clone()));
        let restored = Restored {
            hard_state: self.glue.restored_hard_state(durable.hard_state.clone()),
            snapshot: durable.snapshot.as_ref().map(|s| s.meta.clone()),
            entries: durable.entries.clone(),
            initial_configuration: self.configuration(me),
        };
        // Forwarded reads of this incarnation are numbered apart from earlier ones'.
        let options = CoreOptions {
            read_id_base: u64::from(durable.counters.restarts) << 32,
            ..self.options.clone()
        };
        let mut core = RaftCore::new(me, options, restored)
            .expect("the durable image is always a valid restore");
        let actions = core.start();
        // The state machine starts from the snapshot, if any.
        let (register, sessions, applied) = match &durable.snapshot {
            Some(snapshot) => (
                snapshot.register,
                snapshot.sessions.clone(),
                snapshot.applied.clone(),
            ),
            None => (0, BTreeMap::new(), Vec::new()),
        };
        let mut state = ServerState {
            core,
            payloads: durable.payloads.clone(),
            pending: Queue::new(),
            durable,
            waiting: BTreeMap::new(),
            register,
            sessions,
            applied,
            recovered: storage.is_some(),
            disk_failed: false,
            staged: None,
            reads: BTreeMap::new(),
            ready_reads: BTreeSet::new(),
            election_deadline: 0,
        };
        self.execute(&mut state, actions, &PayloadSource::None, o);
        self.settle(&mut state, o);
        if !state.recovered {
            // Time starts with the model: the servers may have run for long before, so
            // a first election timer may fire at once.
            state.election_deadline = 0;
        }
        if self.clock.is_some() {
            o.set_timer(ModelTimer::Tick, model_timeout());
        }
        if self.disk_failures {
            o.set_timer(ModelTimer::DiskFailure, model_timeout());
        }
        if self.snapshots {
            o.set_timer(ModelTimer::Snapshot, model_timeout());
        }
        if self.admin != AdminPlan::None {
            o.set_timer(ModelTimer::Admin, model_timeout());
        }
        state
    }

    /// `Actor::on_msg` for servers.
    pub(crate) fn on_msg(
        &self,
        state: &mut Cow<ServerState>,
        src: Id,
        msg: Msg,
        o: &mut Out<ModelActor>,
    ) {
        match msg {
            Msg::Raft { message, payloads } => {
                let from = ServerId::from_actor_id(src);
                let input = Input::Message { from, message };
                self.step(state, input, &PayloadSource::Message(&payloads), o);
            }
            Msg::Request {
                request,
                op: Op::Read,
                ..
            } => {
                if self.glue.reads_without_round() && state.core.is_leader() {
                    let value = state.register;
                    o.send(src, Msg::ReadOk { request, value });
                    return;
                }
                // Reads take no log entry: a read index, then the register once applied
                // through it. A copy of a read still waiting here is the same read.
                if state.reads.contains_key(&request) {
                    return;
                }
                state.to_mut().reads.insert(request, src);
                // With a clock, every read may be a lease read (the core answers it from
                // the lease only when `read_lease` is set and the lease holds).
                let input = Input::ReadIndex {
                    ids: vec![request],
                    lease_now: self.clock.map(|_| u64::from(state.durable.counters.clock)),
                };
                self.step(state, input, &PayloadSource::None, o);
            }
            Msg::Request { request, op, .. } => {
                let payload = Payload {
                    client: src,
                    request,
                    op,
                };
                let proposal = Proposal {
                    id: request,
                    size_bytes: 1,
                    expected_term: None,
                };
                let input = Input::Propose(vec![proposal]);
                self.step(state, input, &PayloadSource::Proposal(payload), o);
            }
            Msg::InstallSnapshot { message, data } => {
                let from = ServerId::from_actor_id(src);
                let input = Input::Message { from, message };
                self.step(state, input, &PayloadSource::Snapshot(&data), o);
            }
            // Servers never receive client answers.
            Msg::Redirect { .. } | Msg::WriteOk { .. } | Msg::ReadOk { .. } => {}
        }
    }

    /// `Actor::on_timeout` for servers.
    pub(crate) fn on_timeout(
        &self,
        state: &mut Cow<ServerState>,
        timer: ModelTimer,
        o: &mut Out<ModelActor>,
    ) {
        match timer {
            ModelTimer::Election => {
                // A timed election timer waits for its deadline: until then, firing is a
                // no-op the checker prunes. Stateright prunes a timeout only when the
                // actor sets the same timer again and does nothing else
                // (`is_no_op_with_timer`); returning with no output would instead be a
                // transition that cancels the timer, leaving the server unable ever to
                // time out — the property `a server that votes or follows can time
                // out` found that in the lease profiles' walks (2026-12-05).
                if self.clock.is_some() && state.durable.counters.clock < state.election_deadline {
                    o.set_timer(ModelTimer::Election, model_timeout());
                    return;
                }
                let state = state.to_mut();
                let counters = &mut state.durable.counters;
                if state.core.is_leader() {
                    counters.quorum_checks = counters.quorum_checks.saturating_add(1);
                } else {
                    counters.election_timeouts = counters.election_timeouts.saturating_add(1);
                }
                o.save(Storage::Server(state.durable.clone()));
                self.step_owned(state, Input::Timeout(Timer::Election), o);
                self.settle(state, o);
            }
            ModelTimer::Heartbeat => {
                let state = state.to_mut();
                let counters = &mut state.durable.counters;
                counters.heartbeat_timeouts = counters.heartbeat_timeouts.saturating_add(1);
                o.save(Storage::Server(state.durable.clone()));
                self.step_owned(state, Input::Timeout(Timer::Heartbeat), o);
                self.settle(state, o);
            }
            ModelTimer::Persist => {
                if !state.pending.is_empty() {
                    self.persist(state.to_mut(), o);
                }
            }
            ModelTimer::DiskFailure => {
                // What was not durable is gone, and the messages waiting for it never
                // leave; nothing more becomes durable in this incarnation.
                let state = state.to_mut();
                state.disk_failed = true;
                state.pending.clear();
                o.cancel_timer(ModelTimer::Persist);
                let counters = &mut state.durable.counters;
                counters.disk_failures = counters.disk_failures.saturating_add(1);
                o.save(Storage::Server(state.durable.clone()));
                if self.glue.reports_disk_failure() {
                    self.step_owned(state, Input::Fail, o);
                }
            }
            ModelTimer::Admin => {
                // Only a leader's firings are requests (elsewhere the operator would be
                // redirected): anywhere else the timer just stays armed. A reset is
                // asked of its server, whatever its role.
                o.set_timer(ModelTimer::Admin, model_timeout());
                let asked = match &self.admin {
                    AdminPlan::Reset { server, .. } => state.core.id() == server,
                    AdminPlan::None | AdminPlan::Change { .. } | AdminPlan::Transfer => {
                        state.core.is_leader()
                    }
                };
                if !asked {
                    return;
                }
                let state = state.to_mut();
                let counters = &mut state.durable.counters;
                counters.admin_requests = counters.admin_requests.saturating_add(1);
                let id = RequestId(u64::from(counters.admin_requests));
                o.save(Storage::Server(state.durable.clone()));
                let input = match &self.admin {
                    AdminPlan::Change { change, .. } => Input::ChangeMembership {
                        id,
                        change: change.clone(),
                    },
                    AdminPlan::Transfer => Input::TransferLeadership { id, to: None },
                    AdminPlan::Reset { voters, .. } => Input::ResetPeers {
                        id,
                        configuration: Configuration::with_voters(voters.iter().copied()),
                    },
                    AdminPlan::None => return,
                };
                self.step_owned(state, input, o);
                self.settle(state, o);
            }
            ModelTimer::Tick => {
                let Some(clock) = self.clock else { return };
                if state.durable.counters.clock >= clock.max_time {
                    return;
                }
                let state = state.to_mut();
                state.durable.counters.clock += 1;
                // A deadline passed is a deadline passed: one value for all of them.
                if state.election_deadline <= state.durable.counters.clock {
                    state.election_deadline = 0;
                }
                o.save(Storage::Server(state.durable.clone()));
                o.set_timer(ModelTimer::Tick, model_timeout());
            }
            ModelTimer::Snapshot => {
                let state = state.to_mut();
                let counters = &mut state.durable.counters;
                counters.snapshots = counters.snapshots.saturating_add(1);
                o.save(Storage::Server(state.durable.clone()));
                o.set_timer(ModelTimer::Snapshot, model_timeout());
                self.step_owned(state, Input::TakeSnapshot, o);
                self.settle(state, o);
            }
        }
    }

    /// Steps the core. A step that changes nothing and asks for nothing leaves the state
    /// borrowed, so stateright prunes it as a no-op (VERIFICATION.md §1.1).
    fn step(
        &self,
        state: &mut Cow<ServerState>,
        input: Input<ServerId>,
        source: &PayloadSource<'_>,
        o: &mut Out<ModelActor>,
    ) {
        let mut core = state.core.clone();
        let actions = core.step(input);
        if actions.is_empty() && core == state.core {
            return;
        }
        let state = state.to_mut();
        state.core = core;
        self.execute(state, actions, source, o);
        self.settle(state, o);
    }

    /// Steps the core on a state already owned (inside persistence).
    fn step_owned(&self, state: &mut ServerState, input: Input<ServerId>, o: &mut Out<ModelActor>) {
        let actions = state.core.step(input);
        self.execute(state, actions, &PayloadSource::None, o);
    }

    /// Carries out the core's actions in order.
    fn execute(
        &self,
        state: &mut ServerState,
        actions: Vec<Action<ServerId>>,
        source: &PayloadSource<'_>,
        o: &mut Out<ModelActor>,
    ) {
        let had_pending = !state.pending.is_empty();
        let mut applied_through = None;
        let mut follow_ups = Vec::new();
        for action in actions {
            let action = match action {
                // A failed disk takes no more writes.
                write if state.disk_failed && write.persist_seq().is_some() => continue,
                Action::TruncateLog { from, .. } => {
                    state.payloads.retain(|log_id, _| log_id.index < from);
                    state.waiting.retain(|log_id, _| log_id.index < from);
                    action
                }
                Action::AppendLog { ref entries, .. } => {
                    let payloads = self.collect_payloads(state, entries, source);
                    state.payloads.extend(payloads.iter().copied());
                    action
                }
                other => other,
            };
            let payloads = &state.payloads;
            let queued = state.pending.offer(action, |meta| {
                let payload = match meta.kind {
                    EntryKind::Normal => payloads.get(&meta.log_id).copied(),
                    EntryKind::Blank | EntryKind::Configuration(_) => None,
                };
                Ok::<_, std::convert::Infallible>((meta, payload))
            });
            let Some(action) = queued.unwrap_or_else(|never| match never {}) else {
                continue;
            };
            match action {
                Action::Send { to, message } => {
                    // Across a partition the message is lost (the network could have
                    // kept it forever; dropping it at once spares the interleavings).
                    let me = state.core.id().0;
                    if self
                        .partition
                        .iter()
                        .any(|&(a, b)| (a, b) == (me, to.0) || (b, a) == (me, to.0))
                    {
                        continue;
                    }
                    let msg = attach_payloads(state, message);
                    o.send(to.actor_id(), msg);
                }
                Action::ResetTimer(timer) => {
                    if let (Timer::Election, Some(clock)) = (timer, self.clock) {
                        state.election_deadline = state
                            .durable
                            .counters
                            .clock
                            .saturating_add(clock.election_timeout);
                    }
                    o.set_timer(model_timer(timer), model_timeout());
                }
                Action::CancelTimer(timer) => o.cancel_timer(model_timer(timer)),
                Action::ProposalAccepted { log_id, .. } => {
                    let PayloadSource::Proposal(payload) = source else {
                        panic!("glue bug: a proposal was accepted outside a client request");
                    };
                    state.payloads.insert(log_id, *payload);
                    state.waiting.insert(log_id, *payload);
                }
                Action::ProposalRejected { id, error } => {
                    let PayloadSource::Proposal(payload) = source else {
                        panic!("glue bug: a proposal was rejected outside a client request");
                    };
                    let leader_hint = match error {
                        ProposeError::NotLeader { leader_hint } => leader_hint,
                        _ => None,
                    };
                    let redirect = Msg::Redirect {
                        request: id,
                        leader_hint,
                    };
                    o.send(payload.client, redirect);
                }
                Action::Apply { entries } => {
                    self.apply(state, &entries, o);
                    applied_through = entries.last().map(|meta| meta.log_id.index);
                }
                // A completed transfer is recorded (for a `Sometimes` property); the
                // operator waits for no answer.
                Action::TransferDone { result: Ok(_), .. } => {
                    let counters = &mut state.durable.counters;
                    counters.transfers = counters.transfers.saturating_add(1);
                    o.save(Storage::Server(state.durable.clone()));
                }
                Action::ReadReady { ids, result } => {
                    for request in ids {
                        let Some(client) = state.reads.remove(&request) else {
                            continue;
                        };
                        match &result {
                            Ok(index) => {
                                state.ready_reads.insert((*index, request, client));
                            }
                            Err(error) => {
                                let leader_hint = match error {
                                    ReadIndexError::NotLeader { leader_hint } => *leader_hint,
                                    _ => None,
                                };
                                let redirect = Msg::Redirect {
                                    request,
                                    leader_hint,
                                };
                                o.send(client, redirect);
                            }
                        }
                    }
                }
                Action::RoleChanged { .. }
                | Action::MembershipChanged { .. }
                | Action::TransferDone { .. } => {}
                Action::TakeSnapshot { meta } => {
                    follow_ups.push(self.take_snapshot(state, meta, o));
                }
                Action::CompactLog { through, .. } => {
                    // Need not be durable; done at once.
                    state.durable.entries.retain(|e| e.log_id.index > through);
                    state.durable.payloads.retain(|id, _| id.index > through);
                    state.payloads.retain(|id, _| id.index > through);
                    o.save(Storage::Server(state.durable.clone()));
                }
                Action::FetchSnapshot { meta, .. } => {
                    // The data came with the request; anything else is not fetchable.
                    let data = match source {
                        PayloadSource::Snapshot(data) if data.meta == meta => Some(*data),
                        _ => None,
                    };
                    state.staged = data.cloned();
                    follow_ups.push(Input::SnapshotFetched {
                        last_included: meta.last_included,
                        fetched: data.is_some(),
                    });
                }
                Action::RestoreSnapshot { meta } => {
                    let snapshot = state
                        .durable
                        .snapshot
                        .clone()
                        .filter(|snapshot| snapshot.meta == meta)
                        .expect("glue bug: restore of a snapshot that is not the durable one");
                    let through = meta.last_included.index;
                    state.register = snapshot.register;
                    state.sessions = snapshot.sessions;
                    state.applied = snapshot.applied;
                    // Proposals it covers are answered by nobody here (their clients
                    // retry); payloads it covers are no longer needed.
                    state.waiting.retain(|id, _| id.index > through);
                    state.payloads.retain(|id, _| id.index > through);
                }
                Action::SaveHardState { .. }
                | Action::TruncateLog { .. }
                | Action::AppendLog { .. }
                | Action::InstallSnapshot { .. } => unreachable!("queued by `offer`"),
            }
        }
        // The register applies at once and says so (this hands out nothing more within
        // the model's bounds, which stay far below `max_apply_ahead`).
        if let Some(index) = applied_through {
            self.step_owned(state, Input::Applied { index }, o);
        }
        // Snapshot work done at once, reported after the step.
        for input in follow_ups {
            self.step_owned(state, input, o);
        }
        // Reads whose index the register has applied through are answered.
        let applied = state.core.applied_index();
        while let Some(&(index, request, client)) = state.ready_reads.first() {
            if index > applied {
                break;
            }
            state.ready_reads.pop_first();
            let value = state.register;
            o.send(client, Msg::ReadOk { request, value });
        }
        // Staged data the core no longer installs (answered without an install, or
        // superseded) is dropped, so it does not tell otherwise equal states apart.
        if state
            .staged
            .as_ref()
            .is_some_and(|staged| state.core.installing_snapshot() != Some(&staged.meta))
        {
            state.staged = None;
        }
        let shift = state.core.rebase_persist_seqs();
        state.pending.rebase(shift);
        let me = *state.core.id();
        let newest = state.pending.iter().last().map(|(seq, _)| *seq);
        if let Some(seq) = newest {
            let unreported = seq > state.core.persist_seqs().1;
            if unreported && self.glue.reports_before_durable(me, &state.pending) {
                // Broken glue (teeth tests only): the core hears of durability too early.
                self.step_owned(state, Input::Persisted { seq }, o);
            }
        }
        if self.persist_mode == PersistMode::Immediate {
            return; // `settle` makes it durable at the end of the event
        }
        if !had_pending && !state.pending.is_empty() {
            o.set_timer(ModelTimer::Persist, model_timeout());
        }
    }

    /// In `Immediate` mode, makes everything queued durable before the event ends, batch
    /// by batch (releasing messages and reporting completions may queue more writes,
    /// which the next round persists, so completions stay in request order).
    fn settle(&self, state: &mut ServerState, o: &mut Out<ModelActor>) {
        if self.persist_mode != PersistMode::Immediate {
            return;
        }
        while !state.pending.is_empty() {
            self.persist(state, o);
        }
    }

    /// Saves the state machine as a snapshot at `meta` (atomically: a crash leaves the
    /// old snapshot or this one) and returns the report for the core.
    fn take_snapshot(
        &self,
        state: &mut ServerState,
        meta: concord::core::SnapshotMeta<ServerId>,
        o: &mut Out<ModelActor>,
    ) -> Input<ServerId> {
        let last_included = meta.last_included;
        // The state machine saves what it has: everything applied, which the core's
        // contract makes exactly the entries through `last_included`. (Not asserted: a
        // core that asked for a snapshot elsewhere gets one whose record disagrees with
        // its metadata, and the properties, which read compacted entries from that
        // record, report it — the teeth tests rely on it.)
        let saved = !state.disk_failed;
        let newer = state
            .durable
            .snapshot
            .as_ref()
            .is_none_or(|old| old.meta.last_included.index < last_included.index);
        if saved && newer {
            state.durable.snapshot = Some(ModelSnapshot {
                meta,
                register: state.register,
                sessions: state.sessions.clone(),
                applied: state.applied.clone(),
            });
            o.save(Storage::Server(state.durable.clone()));
        }
        Input::SnapshotSaved {
            last_included,
            saved,
        }
    }

    /// The payloads of the normal entries of an `AppendLog`.
    fn collect_payloads(
        &self,
        state: &ServerState,
        entries: &[EntryMeta<ServerId>],
        source: &PayloadSource<'_>,
    ) -> Vec<(LogId, Payload)> {
        let mut payloads = Vec::new();
        for entry in entries {
            if !matches!(entry.kind, EntryKind::Normal) {
                continue;
            }
            let from_source = match source {
                PayloadSource::Message(list) => list
                    .iter()
                    .find(|(log_id, _)| *log_id == entry.log_id)
                    .map(|(_, payload)| *payload),
                PayloadSource::None | PayloadSource::Proposal(_) | PayloadSource::Snapshot(_) => {
                    None
                }
            };
            let payload = from_source
                .or_else(|| state.payloads.get(&entry.log_id).copied())
                .unwrap_or_else(|| panic!("glue bug: no payload for entry {}", entry.log_id));
            payloads.push((entry.log_id, payload));
        }
        payloads
    }

    /// Applies committed entries to the register, answering the clients whose
    /// proposals this server accepted.
    fn apply(
        &self,
        state: &mut ServerState,
        entries: &[EntryMeta<ServerId>],
        o: &mut Out<ModelActor>,
    ) {
        for meta in entries {
            let log_id = meta.log_id;
            state.applied.push(log_id);
            if !matches!(meta.kind, EntryKind::Normal) {
                continue;
            }
            let payload = state
                .payloads
                .get(&log_id)
                .copied()
                .unwrap_or_else(|| panic!("glue bug: no payload to apply for {log_id}"));
            let answer = apply_to_register(state, payload);
            if state.waiting.remove(&log_id).is_some() {
                o.send(payload.client, answer);
            }
        }
    }

    /// Makes queued persistence work durable (all of it, or the oldest write, depending
    /// on [`PersistMode`]), saves the durable image and reports the writes to the core,
    /// which sends the messages that waited for them.
    fn persist(&self, state: &mut ServerState, o: &mut Out<ModelActor>) {
        let flush: Option<Flush<ServerId, QueuedEntry>> = match self.persist_mode {
            PersistMode::Whole | PersistMode::Immediate => state.pending.take_all(),
            PersistMode::Each => state.pending.take_oldest(),
        };
        let Some(flush) = flush else {
            return;
        };
        let persisted = flush.persisted();
        for write in flush.writes {
            match write {
                Write::HardState(hard_state) => state.durable.hard_state = hard_state,
                Write::Truncate(from) => {
                    state.durable.entries.retain(|e| e.log_id.index < from);
                    state
                        .durable
                        .payloads
                        .retain(|log_id, _| log_id.index < from);
                }
                Write::Append(entries) => {
                    for (meta, payload) in entries {
                        if let Some(payload) = payload {
                            state.durable.payloads.insert(meta.log_id, payload);
                        }
                        state.durable.entries.push(meta);
                    }
                }
                Write::InstallSnapshot(meta) => {
                    let staged = state
                        .staged
                        .take()
                        .filter(|staged| staged.meta == meta)
                        .expect("glue bug: install of a snapshot that was not fetched");
                    let newer = state.durable.snapshot.as_ref().is_none_or(|held| {
                        held.meta.last_included.index < meta.last_included.index
                    });
                    if newer {
                        state.durable.snapshot = Some(staged);
                        let counters = &mut state.durable.counters;
                        counters.installs = counters.installs.saturating_add(1);
                    }
                }
            }
        }
        o.save(Storage::Server(state.durable.clone()));
        self.step_owned(state, persisted, o);
        if !state.pending.is_empty() && self.persist_mode != PersistMode::Immediate {
            o.set_timer(ModelTimer::Persist, model_timeout());
        }
    }
}

/// Runs one command on the register, once per (client, request).
fn apply_to_register(state: &mut ServerState, payload: Payload) -> Msg {
    if let Some((request, answer)) = state.sessions.get(&payload.client) {
        if *request == payload.request {
            return answer.clone();
        }
        if *request > payload.request {
            // An older request applied again (duplicated delivery): no effect. Its
            // client has moved on and ignores any answer.
            return Msg::WriteOk {
                request: payload.request,
            };
        }
    }
    let answer = match payload.op {
        Op::Write(value) => {
            state.register = value;
            Msg::WriteOk {
                request: payload.request,
            }
        }
        Op::Read => Msg::ReadOk {
            request: payload.request,
            value: state.register,
        },
    };
    state
        .sessions
        .insert(payload.client, (payload.request, answer.clone()));
    answer
}

fn attach_payloads(state: &ServerState, message: Message<ServerId>) -> Msg {
    if let Message::InstallSnapshot(request) = &message {
        let data = state
            .durable
            .snapshot
            .clone()
            .filter(|snapshot| snapshot.meta == request.meta)
            .expect("glue bug: a leader sends a snapshot it does not hold");
        return Msg::InstallSnapshot {
            message,
            data: Box::new(data),
        };
    }
    let payloads = match &message {
        Message::Append(request) => request
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Normal))
            .map(|e| {
                let payload = state
                    .payloads
                    .get(&e.log_id)
                    .copied()
                    .unwrap_or_else(|| panic!("glue bug: no payload for entry {}", e.log_id));
                (e.log_id, payload)
            })
            .collect(),
        _ => Vec::new(),
    };
    Msg::Raft { message, payloads }
}

fn model_timer(timer: Timer) -> ModelTimer {
    match timer {
        Timer::Election => ModelTimer::Election,
        Timer::Heartbeat => ModelTimer::Heartbeat,
    }
}
