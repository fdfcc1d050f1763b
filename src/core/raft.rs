//! `RaftCore`: the state, the single entry point `step`, and role changes.

use std::collections::BTreeMap;

use super::configuration::ConfigurationEntry;
use super::durability::{Durability, Outstanding};
use super::entry::EntryMeta;
use super::io::{Action, ConfigurationReset, HardState, Input, Role, Timer};
use super::leader::LeaderState;
use super::log::RaftLog;
use super::message::Message;
use super::options::{CoreOptions, OptionsError};
use super::progress::Progress;
use super::read::ForwardedReads;
use super::snapshot::{SnapshotMeta, Snapshots};
use super::types::{LogId, LogIndex, NodeId, PersistSeq, RequestId, Term};

/// What a node recovered from durable storage when it (re)starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored<N: NodeId> {
    /// Term and vote.
    pub hard_state: HardState<N>,
    /// The latest durable snapshot, if any. The executor loads it into the state
    /// machine before the node starts: the core starts with everything through it applied.
    pub snapshot: Option<SnapshotMeta<N>>,
    /// Metadata of the log entries, in order. Entries the snapshot covers (a retained
    /// tail, or ones a crash kept from being deleted) are skipped.
    pub entries: Vec<EntryMeta<N>>,
    /// The configuration to use when neither the snapshot nor the log holds one (JRaft's
    /// `initialConf`: used only on empty storage).
    pub initial_configuration: ConfigurationEntry<N>,
}

impl<N: NodeId> Restored<N> {
    /// A node with empty storage and the given initial configuration.
    pub fn empty(initial_configuration: ConfigurationEntry<N>) -> Self {
        Restored {
            hard_state: HardState {
                term: Term(0),
                voted_for: None,
                reset: None,
            },
            snapshot: None,
            entries: Vec::new(),
            initial_configuration,
        }
    }
}

/// Why restored state was refused: storage handed back something Raft cannot have written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Entries do not follow each other (index gap, or terms decreasing).
    #[error("restored log is not contiguous at index {index}: {reason}")]
    NonContiguous {
        /// Where the problem is.
        index: LogIndex,
        /// What is wrong.
        reason: &'static str,
    },
    /// The log holds an entry from a term later than the durable term, so the term was
    /// not made durable before the entry — the storage is inconsistent.
    #[error("log entry {log_id} is newer than the durable term {term}")]
    EntryFromFutureTerm {
        /// The offending entry.
        log_id: LogId,
        /// The durable term.
        term: Term,
    },
    /// The options are invalid.
    #[error(transparent)]
    Options(#[from] OptionsError),
}

/// Builds a [`RaftCore`] from storage one log entry at a time, so that a restart never
/// holds the whole log's metadata at once (the core itself keeps a few bytes per entry):
/// create it with the durable hard state, [`push`](CoreRestorer::push) every entry's
/// metadata in log order, then [`finish`](CoreRestorer::finish). Every entry is
/// validated as it arrives. `RaftCore::new` is this, over a list.
#[derive(Debug)]
pub struct CoreRestorer<N: NodeId> {
    id: N,
    options: CoreOptions,
    hard_state: HardState<N>,
    base_configuration: ConfigurationEntry<N>,
    base_epoch: u64,
    start: LogId,
    snapshot: Option<SnapshotMeta<N>>,
    log: RaftLog<N>,
}

impl<N: NodeId> CoreRestorer<N> {
    /// Starts a restore from the durable hard state and, if any, the latest snapshot
    /// (else the initial configuration applies).
    pub fn new(
        id: N,
        options: CoreOptions,
        hard_state: HardState<N>,
        snapshot: Option<SnapshotMeta<N>>,
        initial_configuration: ConfigurationEntry<N>,
    ) -> Result<Self, RestoreError> {
        options.validate()?;
        let (start, configuration) = match &snapshot {
            Some(meta) => (meta.last_included, meta.configuration.clone()),
            None => (LogId::ZERO, initial_configuration),
        };
        let (base_configuration, base_epoch) =
            base_of(configuration, start, hard_state.reset.as_ref());
        let mut log = RaftLog::new(start);
        if let Some(reset) = &hard_state.reset {
            log.set_configuration_floor(Term::first_of_epoch(reset.epoch));
        }
        if start.term > hard_state.term {
            return Err(RestoreError::EntryFromFutureTerm {
                log_id: start,
                term: hard_state.term,
            });
        }
        Ok(CoreRestorer {
            id,
            options,
            hard_state,
            base_configuration,
            base_epoch,
            start,
            snapshot,
            log,
        })
    }

    /// Adds the next log entry, in index order (entries the snapshot covers are skipped).
    pub fn push(&mut self, entry: &EntryMeta<N>) -> Result<(), RestoreError> {
        if entry.log_id.index <= self.start.index {
            if entry.log_id.index == self.start.index && entry.log_id.term != self.start.term {
                return Err(RestoreError::NonContiguous {
                    index: entry.log_id.index,
                    reason: "the entry at the snapshot's last index has another term",
                });
            }
            return Ok(());
        }
        let expected = self.log.last_index().next();
        if entry.log_id.index != expected {
            return Err(RestoreError::NonContiguous {
                index: entry.log_id.index,
                reason: "index gap",
            });
        }
        if entry.log_id.term < self.log.last_log_id().term {
            return Err(RestoreError::NonContiguous {
                index: entry.log_id.index,
                reason: "term decreases",
            });
        }
        if entry.log_id.term > self.hard_state.term {
            return Err(RestoreError::EntryFromFutureTerm {
                log_id: entry.log_id,
                term: self.hard_state.term,
            });
        }
        self.log.push(entry);
        Ok(())
    }

    /// The core, with everything restored counted as durable.
    pub fn finish(self) -> RaftCore<N> {
        let CoreRestorer {
            id,
            options,
            hard_state,
            base_configuration,
            base_epoch,
            start,
            snapshot,
            mut log,
        } = self;
        log.mark_all_persisted();
        let options_read_id_base = options.read_id_base;
        RaftCore {
            id,
            options,
            term: hard_state.term,
            voted_for: hard_state.voted_for.clone(),
            reset: hard_state.reset.clone(),
            reset_answer: None,
            leader: None,
            leader_before_step: None,
            role: RoleState::Follower,
            log,
            base_configuration,
            base_epoch,
            commit_index: start.index,
            commit_known: start.index,
            applied_issued: start.index,
            applied: start.index,
            actions: Vec::new(),
            failed: false,
            durability: Durability::new(hard_state),
            snapshots: Snapshots::new(snapshot),
            dropped_messages: Tally::default(),
            forwarded: ForwardedReads::starting_at(options_read_id_base),
            vote_guard: false,
            broken_promise: None,
        }
    }
}

/// The configuration in force when the log holds none, and its configuration epoch: a
/// reset of the peers newer than `start` (a snapshot's last entry, or the empty log),
/// else `configuration` (the snapshot's, or the initial one), of `start`'s epoch.
pub(crate) fn base_of<N: NodeId>(
    configuration: ConfigurationEntry<N>,
    start: LogId,
    reset: Option<&ConfigurationReset<N>>,
) -> (ConfigurationEntry<N>, u64) {
    match reset {
        Some(reset) if reset.epoch > start.term.epoch() => (
            ConfigurationEntry::stable(reset.configuration.clone()),
            reset.epoch,
        ),
        _ => (configuration, start.term.epoch()),
    }
}

/// Role-specific state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RoleState<N: NodeId> {
    Follower,
    /// Votes received in the pre-vote round for `term + 1` (true = granted).
    PreCandidate {
        votes: BTreeMap<N, bool>,
    },
    /// Votes received in this term (true = granted). This node's own vote is recorded
    /// only once it is durable (the core delivers it to itself, `deliver_own`).
    Candidate {
        votes: BTreeMap<N, bool>,
    },
    /// Progress of every other member (voters and learners).
    Leader(LeaderState<N>),
}

impl<N: NodeId> RoleState<N> {
    /// The leader's state, when leading.
    pub(crate) fn leader(&self) -> Option<&LeaderState<N>> {
        match self {
            RoleState::Leader(leader) => Some(leader),
            RoleState::Follower | RoleState::PreCandidate { .. } | RoleState::Candidate { .. } => {
                None
            }
        }
    }

    /// The leader's state, mutably, when leading.
    pub(crate) fn leader_mut(&mut self) -> Option<&mut LeaderState<N>> {
        match self {
            RoleState::Leader(leader) => Some(leader),
            RoleState::Follower | RoleState::PreCandidate { .. } | RoleState::Candidate { .. } => {
                None
            }
        }
    }
}

/// The pure Raft state machine of one node in one group. See the module docs for the
/// contract; `step` is the only way to change it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RaftCore<N: NodeId> {
    pub(crate) id: N,
    pub(crate) options: CoreOptions,
    /// Latest term seen. Durable (via `SaveHardState`) before anything depends on it.
    pub(crate) term: Term,
    /// Vote cast in `term`. Invariant: `Some(id)` while Candidate or Leader.
    pub(crate) voted_for: Option<N>,
    /// The latest reset of the peers (`Input::ResetPeers`). Durable, in the hard state.
    pub(crate) reset: Option<ConfigurationReset<N>>,
    /// A reset being written: answered (with its epoch) once the hard state holding it
    /// is durable.
    pub(crate) reset_answer: Option<(RequestId, u64)>,
    /// The leader of `term` this node follows, while it believes that leader alive:
    /// set on hearing from it, cleared when the election timer fires. A known leader
    /// makes this node refuse votes for others (F24). Invariant: `Some(id)` iff Leader.
    /// Changed only through `set_leader`.
    pub(crate) leader: Option<N>,
    /// The leader as it was when this step first changed it (`set_leader`), taken at
    /// the step's end to tell whether the step changed it: no clone of `leader` per step.
    pub(crate) leader_before_step: Option<Option<N>>,
    pub(crate) role: RoleState<N>,
    pub(crate) log: RaftLog<N>,
    /// The configuration from the snapshot or `initial_configuration`, used when the log
    /// holds no configuration entry.
    pub(crate) base_configuration: ConfigurationEntry<N>,
    /// The configuration epoch of `base_configuration` (see `configuration_epoch`).
    pub(crate) base_epoch: u64,
    /// Highest index known committed and durable here.
    /// Invariant: `log.start <= commit_index <= log.persisted`.
    pub(crate) commit_index: LogIndex,
    /// Highest index known committed (learned from the leader, or counted as leader)
    /// that may not be durable here yet. Invariant: `commit_index <= commit_known`.
    pub(crate) commit_known: LogIndex,
    /// Highest index handed out in an `Apply` action. Invariant: between steps, `==
    /// apply_limit()` (within `max_apply_ahead` entries and `max_apply_ahead_bytes` of
    /// `applied`, and at most `commit_index`).
    pub(crate) applied_issued: LogIndex,
    /// Highest index the executor reported applied (`Input::Applied`). Invariant:
    /// `log.start <= applied <= applied_issued`.
    pub(crate) applied: LogIndex,
    /// Actions of the step in progress. Invariant: empty between steps.
    pub(crate) actions: Vec<Action<N>>,
    /// The executor reported a failure (`Input::Fail`). Invariant: a failed node is a
    /// follower that follows no one.
    pub(crate) failed: bool,
    /// Writes issued and reported durable, and the messages waiting for them.
    pub(crate) durability: Durability<N>,
    /// The latest snapshot, and one being taken or installed.
    pub(crate) snapshots: Snapshots<N>,
    /// Messages refused or dropped without effect: inputs claiming to come from this
    /// node, malformed appends, and outgoing messages dropped because the hold queue
    /// was full (a stalled disk). Not protocol state (a `Tally` is equal to every other one and
    /// hashes to nothing, so the model checker sees one state); the executor reports it.
    pub(crate) dropped_messages: Tally,
    /// Reads this follower or learner forwarded to its leader (`read.rs`).
    pub(crate) forwarded: ForwardedReads<N>,
    /// With leases on (`CoreOptions::read_lease`): refuse votes until the election timer
    /// fires — set at `start` when the restored term is not 0 (a voter that confirmed a
    /// lease and restarted must not help elect another before it has run out; one with
    /// term 0 never answered a round, see `handle_heartbeat`) and whenever the node hears
    /// from a leader
    /// (so a higher-term answer that clears `leader` does not end the refusal).
    pub(crate) vote_guard: bool,
    /// The first message this node sent that promised what it had not made durable
    /// (`check_promise`, invariants.rs): kept, and reported by `check_invariants`.
    pub(crate) broken_promise: Option<String>,
}

/// A counter that is not part of a core's state: every `Tally` equals every other one
/// and hashes to nothing, so two cores that differ only in what they counted are the
/// same state to the model checker and to every comparison.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally(pub(crate) u64);

impl PartialEq for Tally {
    fn eq(&self, _other: &Tally) -> bool {
        true
    }
}

impl Eq for Tally {}

impl std::hash::Hash for Tally {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl<N: NodeId> RaftCore<N> {
    /// Builds a core from what storage holds. Validates the restored log instead of
    /// trusting it. (A log too large to hold as a list of entries: [`CoreRestorer`].)
    pub fn new(id: N, options: CoreOptions, restored: Restored<N>) -> Result<Self, RestoreError> {
        let mut restorer = CoreRestorer::new(
            id,
            options,
            restored.hard_state,
            restored.snapshot,
            restored.initial_configuration,
        )?;
        for entry in &restored.entries {
            restorer.push(entry)?;
        }
        Ok(restorer.finish())
    }

    /// Call once after `new`: arms the election timer of a voter.
    pub fn start(&mut self) -> Vec<Action<N>> {
        // A node restarted with term 0 never answered a leader's round (an answer that
        // adopted a term leaves only once the term is durable, `handle_heartbeat`): no
        // lease rests on it, so a fresh cluster elects its first leader without waiting.
        self.vote_guard = self.options.read_lease > 0 && self.term != Term::first_of_epoch(0);
        // A non-voter needs the timer too while its guard holds: only the timer ends
        // the guard, and a node that refuses every vote because of it could otherwise
        // hold up an election for ever (a new server, a voter in the others' eyes,
        // restarted while catching up after the leader failed).
        if self.configuration().is_voter(&self.id) || self.vote_guard {
            self.push(Action::ResetTimer(Timer::Election));
        }
        std::mem::take(&mut self.actions)
    }

    /// Feeds one input and returns the actions it causes, in order (see [`Action`] for
    /// the ordering contract).
    pub fn step(&mut self, input: Input<N>) -> Vec<Action<N>> {
        let before = (self.role(), self.term);
        self.leader_before_step = None;
        match input {
            Input::Fail => self.handle_fail(),
            // A failed node takes part in nothing until it is restarted.
            input if self.failed => self.refuse_failed(input),
            Input::Message { from, message } => self.handle_message(from, message),
            Input::Timeout(Timer::Election) => self.handle_election_timeout(),
            Input::Timeout(Timer::Heartbeat) => self.handle_heartbeat_timeout(),
            Input::Propose(proposals) => self.handle_propose(proposals),
            Input::Persisted { seq } => self.handle_persisted(seq),
            Input::Applied { index } => self.handle_applied(index),
            Input::TakeSnapshot => self.maybe_take_snapshot(true),
            Input::ReadIndex { ids, lease_now } => self.handle_read_index(ids, lease_now),
            Input::ChangeMembership { id, change } => self.handle_change_membership(id, change),
            Input::TransferLeadership { id, to } => self.handle_transfer_leadership(id, to),
            Input::ResetPeers { id, configuration } => self.handle_reset_peers(id, configuration),
            Input::SnapshotSaved {
                last_included,
                saved,
            } => self.handle_snapshot_saved(last_included, saved),
            Input::SnapshotFetched {
                last_included,
                fetched,
            } => self.handle_snapshot_fetched(last_included, fetched),
        }
        self.settle_forwarded_reads();
        if !self.failed {
            self.answer_durable_reset();
            self.release_held();
            self.maybe_take_snapshot(false);
        }
        self.coalesce_actions();
        let after = (self.role(), self.term);
        let leader_changed = self
            .leader_before_step
            .take()
            .is_some_and(|before| before != self.leader);
        if before != after || leader_changed {
            self.push(Action::RoleChanged {
                role: after.0,
                term: after.1,
                leader: self.leader.clone(),
                commit_index: self.commit_index,
            });
        }
        std::mem::take(&mut self.actions)
    }

    /// Sets the leader this node follows (or is), keeping the one the step started with
    /// for its end (`step`'s `RoleChanged`).
    pub(crate) fn set_leader(&mut self, leader: Option<N>) {
        let before = std::mem::replace(&mut self.leader, leader);
        if self.leader_before_step.is_none() {
            self.leader_before_step = Some(before);
        }
    }

    pub(crate) fn push(&mut self, action: Action<N>) {
        self.actions.push(action);
    }

    /// Tidies the step's actions without changing their meaning: only the last timer
    /// command per timer is kept (timer commands are idempotent). (Hard-state writes
    /// are merged where they are issued, `save_hard_state`.)
    fn coalesce_actions(&mut self) {
        // One slot per timer (an exhaustive match: a new timer needs a slot).
        fn slot(timer: Timer) -> usize {
            match timer {
                Timer::Election => 0,
                Timer::Heartbeat => 1,
            }
        }
        let mut last = [None::<usize>; 2];
        let mut repeated = false;
        for (position, action) in self.actions.iter().enumerate() {
            if let Action::ResetTimer(timer) | Action::CancelTimer(timer) = action {
                repeated |= last[slot(*timer)].replace(position).is_some();
            }
        }
        if !repeated {
            return;
        }
        let mut position = 0;
        self.actions.retain(|action| {
            let keep = match action {
                Action::ResetTimer(timer) | Action::CancelTimer(timer) => {
                    last[slot(*timer)] == Some(position)
                }
                _ => true,
            };
            position += 1;
            keep
        });
    }

    pub(crate) fn send(&mut self, to: N, message: Message<N>) {
        if self.reset_answer.is_some() {
            // A reset of the peers is being written: nothing of its epoch leaves before
            // it is durable (an old member that learned the epoch from a refusal would
            // be fenced by a reset a crash then forgets).
            if !self.durability.hold(to, message) {
                self.dropped_messages.0 += 1;
            }
            return;
        }
        self.note_promise(&to, &message);
        self.push(Action::Send { to, message });
    }

    /// Sends a message that asserts durable state (a granted vote, a vote request, an
    /// append acknowledgement): it leaves only once every write issued before it is
    /// durable — at once if nothing is outstanding, else when `Input::Persisted` says
    /// so. `to` may be this node (a candidate's own vote): it is delivered here.
    pub(crate) fn send_after_persist(&mut self, to: N, message: Message<N>) {
        if self.durability.is_idle() && to != self.id {
            self.send(to, message);
        } else if !self.durability.hold(to, message) {
            // A stalled disk filled the hold queue: lose the message, as a network may.
            self.dropped_messages.0 += 1;
        }
    }

    /// Sends a message that counts in this node's current term and promises nothing
    /// else that is not durable yet (a heartbeat answer; an acknowledgement of entries
    /// already durable): at once if the term is durable, else held until it is
    /// (durable promises, `check_promise`). Unlike [`RaftCore::send_after_persist`] it
    /// does not wait behind log writes when the term is durable.
    pub(crate) fn send_in_durable_term(&mut self, to: N, message: Message<N>) {
        if self.durability.durable_hard_state().term < self.term {
            self.send_after_persist(to, message);
        } else {
            self.send(to, message);
        }
    }

    /// `Input::Persisted`: marks the writes durable, lets the commit index follow the
    /// durable log, and (at the end of the step) sends what waited for them.
    fn handle_persisted(&mut self, seq: PersistSeq) {
        let mut log_advanced = false;
        for write in self.durability.mark_durable(seq) {
            match write {
                Outstanding::Append { epoch, last } => {
                    log_advanced |= self.log.mark_persisted(epoch, last);
                }
                Outstanding::HardState(_) | Outstanding::Truncate => {}
                Outstanding::Install(meta) => {
                    self.finish_install(meta);
                    log_advanced = true;
                }
            }
        }
        if log_advanced {
            self.maybe_advance_commit();
        }
    }

    /// Sends (or, for this node's own vote, delivers) every held message whose writes
    /// are durable.
    fn release_held(&mut self) {
        while let Some((to, message)) = self.durability.release() {
            if to == self.id {
                self.deliver_own(message);
            } else {
                self.send(to, message);
            }
        }
    }

    /// A message this node sent itself: a candidate's own granted vote, now durable. It
    /// counts only if the candidacy it was cast in is still running.
    fn deliver_own(&mut self, message: Message<N>) {
        // The own vote of an earlier candidacy is merely stale.
        if let Message::VoteResponse(response) = message {
            if response.granted && response.term == self.term {
                let id = self.id.clone();
                self.handle_vote_response(id, response);
            }
        }
    }

    fn handle_message(&mut self, from: N, message: Message<N>) {
        // A node never sends itself a message through its executor (its own vote is
        // delivered inside the core, `deliver_own`). Anything claiming to come from this
        // node is spoofed or misrouted: acting on it would, for example, make a
        // follower adopt itself as leader of a term it never won.
        if from == self.id {
            self.dropped_messages.0 += 1;
            return;
        }
        // A malformed message changes nothing, not even the term.
        let well_formed = match &message {
            Message::Append(request) => super::follower::is_well_formed(request),
            Message::InstallSnapshot(request) => super::snapshot::is_well_formed(request),
            Message::PreVote(_)
            | Message::PreVoteResponse(_)
            | Message::Vote(_)
            | Message::VoteResponse(_)
            | Message::AppendResponse(_)
            | Message::Heartbeat(_)
            | Message::HeartbeatResponse(_)
            | Message::InstallSnapshotResponse(_)
            | Message::TimeoutNow(_)
            | Message::ReadIndex(_)
            | Message::ReadIndexResponse(_) => true,
        };
        if !well_formed {
            self.dropped_messages.0 += 1;
            return;
        }
        // Membership does not gate messages (Raft dissertation §4.1): a server answers
        // whoever sends it a request, by the term rules alone, so that a server not yet
        // (or no longer) in its own configuration still follows the leader that added
        // it, and votes are granted by the log rules. Only answers are screened, where
        // they are counted: votes count only from voters, acknowledgements only from
        // peers the leader replicates to.
        let message_term = message.term();
        if message_term > self.term {
            match &message {
                // Pre-votes never move terms: that is their point (F23).
                Message::PreVote(_) => {}
                Message::PreVoteResponse(response) if response.granted => {}
                // A node that hears from a live leader ignores vote requests (F24)
                // without adopting their term, so a disruptive node gains nothing.
                // A campaign the leader asked for (`TimeoutNow`) is the exception.
                Message::Vote(request)
                    if (self.leader.is_some() || self.vote_guard)
                        && !request.leadership_transfer =>
                {
                    return
                }
                Message::Append(_)
                | Message::Heartbeat(_)
                | Message::InstallSnapshot(_)
                | Message::TimeoutNow(_) => {
                    self.become_follower(message_term, Some(from.clone()));
                }
                // A vote request when no leader is known, a refused pre-vote (it carries
                // the voter's term), and every other answer: the term is adopted, and
                // there is no leader of it to follow yet.
                Message::Vote(_)
                | Message::PreVoteResponse(_)
                | Message::VoteResponse(_)
                | Message::AppendResponse(_)
                | Message::HeartbeatResponse(_)
                | Message::InstallSnapshotResponse(_)
                | Message::ReadIndex(_)
                | Message::ReadIndexResponse(_) => self.become_follower(message_term, None),
            }
        } else if message_term < self.term {
            self.reply_to_stale(from, &message);
            return;
        }
        match message {
            Message::PreVote(request) => self.handle_pre_vote_request(from, request),
            Message::Vote(request) => self.handle_vote_request(from, request),
            Message::PreVoteResponse(response) => self.handle_pre_vote_response(from, response),
            Message::VoteResponse(response) => self.handle_vote_response(from, response),
            Message::Append(request) => self.handle_append_request(from, request),
            Message::Heartbeat(heartbeat) => self.handle_heartbeat(from, heartbeat),
            Message::AppendResponse(response) => self.handle_append_response(from, response),
            Message::HeartbeatResponse(response) => {
                self.handle_heartbeat_response(from, response.round, response.lease_cover)
            }
            Message::InstallSnapshot(request) => {
                self.handle_install_snapshot_request(from, request)
            }
            Message::InstallSnapshotResponse(response) => {
                self.handle_install_snapshot_response(from, response)
            }
            Message::TimeoutNow(request) => self.handle_timeout_now(from, request),
            Message::ReadIndex(request) => self.handle_read_index_request(from, request),
            Message::ReadIndexResponse(response) => self.handle_read_index_response(from, response),
        }
    }

    /// A message from an older term. Requests get our term back so their sender steps
    /// down or catches up; stale responses are ignored.
    fn reply_to_stale(&mut self, from: N, message: &Message<N>) {
        use super::message::{
            AppendResponse, AppendResult, HeartbeatResponse, InstallSnapshotResponse,
            InstallSnapshotResult, ReadIndexResponse, ReadIndexResult, VoteResponse,
        };
        let term = self.term;
        let reply = match message {
            Message::Append(_) => Message::AppendResponse(AppendResponse {
                term,
                result: AppendResult::StaleTerm,
            }),
            Message::Heartbeat(_) => Message::HeartbeatResponse(HeartbeatResponse {
                term,
                round: 0,
                lease_cover: 0,
            }),
            Message::ReadIndex(request) => Message::ReadIndexResponse(ReadIndexResponse {
                term,
                id: request.id,
                result: ReadIndexResult::NotLeader,
            }),
            Message::PreVote(_) => Message::PreVoteResponse(VoteResponse {
                term,
                granted: false,
            }),
            Message::Vote(_) => Message::VoteResponse(VoteResponse {
                term,
                granted: false,
            }),
            Message::InstallSnapshot(_) => {
                Message::InstallSnapshotResponse(InstallSnapshotResponse {
                    term,
                    result: InstallSnapshotResult::StaleTerm,
                })
            }
            Message::PreVoteResponse(_)
            | Message::VoteResponse(_)
            | Message::AppendResponse(_)
            | Message::HeartbeatResponse(_)
            | Message::InstallSnapshotResponse(_)
            | Message::TimeoutNow(_)
            | Message::ReadIndexResponse(_) => return,
        };
        self.send(from, reply);
    }

    /// Issues a write of the current term and vote. A write of the hard state issued
    /// earlier in the same step that nothing waits for yet is replaced instead (one
    /// fsync instead of two when a vote follows a term change).
    pub(crate) fn save_hard_state(&mut self) {
        let hard_state = self.hard_state();
        let newest_write = self
            .actions
            .iter()
            .rposition(|action| action.persist_seq().is_some());
        if let Some(position) = newest_write {
            if let Action::SaveHardState { seq, .. } = self.actions[position] {
                if !self.durability.holds_for(seq) {
                    self.actions.remove(position);
                    self.durability.replace_hard_state(seq, hard_state.clone());
                    self.push(Action::SaveHardState { seq, hard_state });
                    return;
                }
            }
        }
        let seq = self
            .durability
            .issue(Outstanding::HardState(hard_state.clone()));
        self.push(Action::SaveHardState { seq, hard_state });
    }

    /// Issues the truncation of the log from `from` on.
    pub(crate) fn truncate_log(&mut self, from: LogIndex) {
        let epoch = self.log.truncate_from(from);
        let seq = self.durability.issue(Outstanding::Truncate);
        self.push(Action::TruncateLog { seq, from, epoch });
    }

    /// Issues the write of entries just pushed onto the in-memory log.
    pub(crate) fn append_log(&mut self, entries: Vec<EntryMeta<N>>) {
        let Some(last) = entries.last().map(|entry| entry.log_id) else {
            return;
        };
        let epoch = self.log.epoch();
        let seq = self.durability.issue(Outstanding::Append { epoch, last });
        self.push(Action::AppendLog {
            seq,
            epoch,
            entries,
        });
    }

    /// `Input::Fail`: step aside for good (until a restart).
    fn handle_fail(&mut self) {
        if self.failed {
            return;
        }
        self.failed = true;
        self.durability.abandon();
        if let Some((id, _)) = self.reset_answer.take() {
            // Its write may never become durable.
            self.push(Action::MembershipChanged {
                id,
                result: Err(super::error::AdminError::Failed),
            });
        }
        if !matches!(self.role, RoleState::Follower) {
            let term = self.term;
            self.become_follower(term, None);
        }
        self.set_leader(None);
        self.push(Action::CancelTimer(Timer::Election));
        self.push(Action::CancelTimer(Timer::Heartbeat));
    }

    /// Reads waiting for a read index here: on a leader, its own and its followers'
    /// waiting for a round; on a follower, those it asked its leader about.
    pub fn pending_reads(&self) -> u64 {
        self.role
            .leader()
            .map_or(0, |leader| leader.reads().waiting())
            + self.forwarded.waiting()
    }

    /// Whether the executor reported a failure (`Input::Fail`): the node takes part in
    /// nothing until it is restarted.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// How many messages this core refused or dropped without effect: inputs claiming to
    /// come from this node itself (spoofed or misrouted: the core delivers its own vote
    /// internally, so no executor ever addresses its own node), malformed appends, and
    /// outgoing messages dropped because the hold queue was full. Stale-term messages
    /// are not counted: they are answered or ignored by the protocol.
    pub fn dropped_messages(&self) -> u64 {
        self.dropped_messages.0
    }

    /// The one reconciliation point, called after every log mutation that can change
    /// the configuration in force (a configuration entry appended by a leader; a
    /// follower's truncations and a restore leave no leader state to follow): the
    /// leader's progress map becomes the configuration's other members plus the peers
    /// catching up and the leaving ones — a member that joined starts probing at the end
    /// of the log, one that left becomes leaving (told until it holds the entry that
    /// removed it). Quorums and the alive-peer view are computed from the configuration
    /// in force, so they follow too. Checked by the invariant "a leader's progress map
    /// differs from the configuration's members".
    pub(crate) fn reconcile_configuration(&mut self) {
        let Some(mut view) = self.leader_view() else {
            return;
        };
        view.reconcile();
        // The quorum may be smaller now (C_new after a joint configuration): the
        // answers already in may confirm a round.
        self.confirm_read_rounds();
    }

    /// Becomes a follower of `leader` (if known) in `term` ≥ the current term.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<N>) {
        assert!(term >= self.term, "terms never go backwards");
        let was_leader = self.role.leader().is_some();
        // Requests a leader was carrying out are answered (a transfer succeeded if
        // this node leaves for a newer term after telling its target to campaign).
        self.end_leadership(term > self.term);
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.save_hard_state();
            // A snapshot still being fetched from the previous term's leader is given up
            // (its report will be ignored); the new leader sends its own.
            if self
                .snapshots
                .installing
                .as_ref()
                .is_some_and(|installing| !installing.writing)
            {
                self.snapshots.installing = None;
            }
        }
        if was_leader {
            self.push(Action::CancelTimer(Timer::Heartbeat));
        }
        self.role = RoleState::Follower;
        self.set_leader(leader);
        if self.configuration().is_voter(&self.id) || self.leader.is_some() {
            // A non-voter that knows a leader needs the timer too: it forgets the
            // leader when it fires (`follow`).
            self.push(Action::ResetTimer(Timer::Election));
        } else if was_leader {
            // A leader removed from the voters: no campaigns, no check-quorum rounds.
            self.push(Action::CancelTimer(Timer::Election));
        }
    }

    /// `Input::ChangeMembership` or `Input::TransferLeadership` on a failed node: refused
    /// (every other input is ignored).
    fn refuse_failed(&mut self, input: Input<N>) {
        match input {
            Input::ChangeMembership { id, .. } | Input::ResetPeers { id, .. } => {
                self.push(Action::MembershipChanged {
                    id,
                    result: Err(super::error::AdminError::Failed),
                })
            }
            Input::TransferLeadership { id, .. } => self.push(Action::TransferDone {
                id,
                result: Err(super::error::AdminError::Failed),
            }),
            Input::ReadIndex { ids, .. } if !ids.is_empty() => self.push(Action::ReadReady {
                ids,
                result: Err(super::error::ReadIndexError::Failed),
            }),
            Input::Message { .. }
            | Input::Timeout(_)
            | Input::Propose(_)
            | Input::Persisted { .. }
            | Input::Applied { .. }
            | Input::Fail
            | Input::ReadIndex { .. }
            | Input::TakeSnapshot
            | Input::SnapshotSaved { .. }
            | Input::SnapshotFetched { .. } => {}
        }
    }

    /// How far committed entries may be handed out: at most `max_apply_ahead` entries
    /// beyond the last one reported applied, holding at most `max_apply_ahead_bytes` of
    /// payload (one entry always, when none is outstanding).
    pub(crate) fn apply_limit(&self) -> LogIndex {
        let by_count = LogIndex(
            self.applied
                .0
                .saturating_add(self.options.max_apply_ahead)
                .min(self.commit_index.0),
        );
        if self.applied_issued >= by_count {
            // Nothing more may be handed out (the common case on a busy leader): skip
            // summing what is outstanding.
            return self.applied_issued.max(self.applied);
        }
        let mut bytes = self
            .log
            .bytes_between(self.applied.next(), self.applied_issued);
        let mut limit = self.applied_issued.max(self.applied);
        while limit < by_count {
            let next = limit.next();
            bytes += self.log.bytes_between(next, next);
            if bytes > self.options.max_apply_ahead_bytes && limit > self.applied {
                break;
            }
            limit = next;
        }
        limit
    }

    /// Hands out committed entries not handed out yet, within [`Self::apply_limit`].
    pub(crate) fn emit_apply(&mut self) {
        let limit = self.apply_limit();
        if limit > self.applied_issued {
            let first = self.applied_issued.next();
            let entries = self
                .log
                .entries_from(first, limit.0 - first.0 + 1, u64::MAX);
            debug_assert_eq!(entries.len() as u64, limit.0 - first.0 + 1);
            self.applied_issued = limit;
            self.push(Action::Apply { entries });
        }
    }

    /// The state machine applied through `index`: hand out more, if any wait.
    fn handle_applied(&mut self, index: LogIndex) {
        if index <= self.applied || index > self.applied_issued {
            return;
        }
        self.applied = index;
        self.emit_apply();
    }

    /// Advances `commit_index` after persistence or commit knowledge changed.
    pub(crate) fn maybe_advance_commit(&mut self) {
        if self.role.leader().is_some() {
            self.maybe_commit_as_leader();
        } else {
            let candidate = self.commit_known.min(self.log.persisted());
            if candidate > self.commit_index {
                self.commit_index = candidate;
                self.emit_apply();
            }
        }
    }

    // ----- read-only accessors -----

    /// This node's id.
    pub fn id(&self) -> &N {
        &self.id
    }

    /// The options this core runs with.
    pub fn options(&self) -> &CoreOptions {
        &self.options
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The vote cast in the current term.
    pub fn voted_for(&self) -> Option<&N> {
        self.voted_for.as_ref()
    }

    /// The term and vote the executor has reported durable.
    pub fn durable_hard_state(&self) -> &HardState<N> {
        self.durability.durable_hard_state()
    }

    /// The sequence number of the last persistence action issued, and of the last one
    /// reported durable.
    pub fn persist_seqs(&self) -> (PersistSeq, PersistSeq) {
        (self.durability.issued(), self.durability.durable())
    }

    /// How many messages wait for their writes to be durable.
    pub fn held_messages(&self) -> usize {
        self.durability.held_len()
    }

    /// Renumbers the persistence sequence numbers so that the last durable one is 0,
    /// and returns by how much every number moved down. Only for state-space
    /// explorers (the model checker), which must see two states that differ only in
    /// how many writes led to them as one: an executor that calls it must lower every
    /// sequence number it holds by the returned amount before its next report. The
    /// runtime never calls it.
    pub fn rebase_persist_seqs(&mut self) -> u64 {
        self.durability.rebase()
    }

    /// Term and vote as they must be durable.
    pub fn hard_state(&self) -> HardState<N> {
        HardState {
            term: self.term,
            voted_for: self.voted_for.clone(),
            reset: self.reset.clone(),
        }
    }

    /// The current role.
    pub fn role(&self) -> Role {
        match self.role {
            RoleState::Follower => Role::Follower,
            RoleState::PreCandidate { .. } => Role::PreCandidate,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// True when this node leads its current term.
    pub fn is_leader(&self) -> bool {
        self.role.leader().is_some()
    }

    /// The leader this node currently follows (itself when leader).
    pub fn leader(&self) -> Option<&N> {
        self.leader.as_ref()
    }

    /// Highest committed index that is durable here.
    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }

    /// Highest index handed out for applying.
    pub fn applied_issued(&self) -> LogIndex {
        self.applied_issued
    }

    /// Highest index the executor reported applied (`Input::Applied`).
    pub fn applied_index(&self) -> LogIndex {
        self.applied
    }

    /// The last log id (including entries not yet durable).
    pub fn last_log_id(&self) -> LogId {
        self.log.last_log_id()
    }

    /// Highest durable log index.
    pub fn persisted_index(&self) -> LogIndex {
        self.log.persisted()
    }

    /// The log id just before the first held entry (snapshot boundary).
    pub fn log_start(&self) -> LogId {
        self.log.start()
    }

    /// The latest durable snapshot known to this core.
    pub fn snapshot(&self) -> Option<&SnapshotMeta<N>> {
        self.snapshots.current.as_ref()
    }

    /// The snapshot asked for with `Action::TakeSnapshot` and not yet reported saved.
    pub fn taking_snapshot(&self) -> Option<&SnapshotMeta<N>> {
        self.snapshots.taking.as_ref()
    }

    /// The snapshot being installed from a leader (fetched or being written), if any.
    pub fn installing_snapshot(&self) -> Option<&SnapshotMeta<N>> {
        self.snapshots
            .installing
            .as_ref()
            .map(|installing| &installing.meta)
    }

    /// The term of the entry at `index`, if held (or it is the snapshot boundary).
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.log.term_at(index)
    }

    /// The metadata of the held entry at `index`.
    pub fn entry_meta(&self, index: LogIndex) -> Option<EntryMeta<N>> {
        self.log.entry_meta(index)
    }

    /// The log's term runs in text form, e.g. `1..=3@t1 4..=4@t2`.
    pub fn describe_log(&self) -> String {
        self.log.describe_runs()
    }

    /// The configuration in force: the latest configuration entry in the log (used as
    /// soon as appended, Raft §6), else the snapshot's or the initial one.
    pub fn configuration(&self) -> &ConfigurationEntry<N> {
        match self.log.last_configuration() {
            Some((_, configuration)) => configuration,
            None => &self.base_configuration,
        }
    }

    /// The configuration epoch of the configuration in force: the epoch of the term of
    /// the configuration entry that set it, or of the base configuration (a reset's, a
    /// snapshot's, the initial one's). A node whose term is of a later epoch than its
    /// configuration has heard that the peers were reset and is not in the new
    /// configuration as far as it knows: it is *fenced* and never campaigns, until a
    /// configuration entry of its term's epoch reaches its log.
    pub fn configuration_epoch(&self) -> u64 {
        self.configuration_epoch_at(self.log.last_index())
    }

    /// The configuration epoch of the configuration in force at `index`.
    pub(crate) fn configuration_epoch_at(&self, index: LogIndex) -> u64 {
        self.log
            .configuration_at_with_index(index)
            .and_then(|(index, _)| self.log.term_at(index))
            .map_or(self.base_epoch, Term::epoch)
    }

    /// True when this node heard of a newer configuration epoch than its configuration's
    /// (see `configuration_epoch`): it does not campaign.
    pub fn is_fenced(&self) -> bool {
        self.configuration_epoch() < self.term.epoch()
    }

    /// The configuration in force at the commit index: the latest configuration this
    /// node knows committed (a snapshot's, or the initial one, if the committed log holds
    /// none).
    pub fn committed_configuration(&self) -> &ConfigurationEntry<N> {
        self.configuration_at(self.commit_index)
    }

    /// The leader's progress for `peer` (None when not leader or unknown peer).
    pub fn progress(&self, peer: &N) -> Option<&Progress> {
        self.role.leader()?.progress(peer)
    }
}
