//! The core's contract with its caller: [`Input`]s in, [`Action`]s out.

use serde::{Deserialize, Serialize};

use super::configuration::{Configuration, MembershipChange};
use super::entry::EntryMeta;
use super::error::{AdminError, ProposeError, ReadIndexError};
use super::message::Message;
use super::snapshot::SnapshotMeta;
use super::types::{LogEpoch, LogId, LogIndex, NodeId, PersistSeq, RequestId, Term};

/// A timer the caller owns. The core only says "(re)start" or "stop"; the caller picks
/// the duration (randomized for `Election`), and reports expiry as `Input::Timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Followers and candidates: start an election when it fires. Leaders: run the
    /// check-quorum test when it fires. Duration: a random value in
    /// `[election_timeout, election_timeout + max_election_delay)`.
    Election,
    /// Leaders only: send heartbeats when it fires. Duration: `election_timeout / 10`.
    Heartbeat,
}

/// The durable part of the core's state besides the log (Raft Figure 2 "persistent state").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct HardState<N: NodeId> {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub voted_for: Option<N>,
    /// The latest forced reset of this node's peers (`Input::ResetPeers`), if any: its
    /// configuration overrides every configuration entry of an older epoch in the log.
    #[serde(default)]
    pub reset: Option<ConfigurationReset<N>>,
}

impl<N: NodeId> Default for HardState<N> {
    /// Term 0, no vote: the state of empty storage.
    fn default() -> Self {
        HardState {
            term: Term(0),
            voted_for: None,
            reset: None,
        }
    }
}

/// A forced reset of a node's peers (`Input::ResetPeers`, JRaft's `resetPeers`),
/// recorded in the hard state: from `epoch` on, the node's configuration is
/// `configuration` until a configuration entry of `epoch` or later reaches its log (the
/// first leader of the epoch appends one at once).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct ConfigurationReset<N: NodeId> {
    /// The configuration epoch the reset opened (`Term::epoch`).
    pub epoch: u64,
    /// The configuration the operator gave.
    pub configuration: Configuration<N>,
}

/// A client command offered to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Proposal {
    /// Echoed in the answer.
    pub id: RequestId,
    /// Payload size in bytes (for byte-bounded replication windows).
    pub size_bytes: u32,
    /// Reject unless the leader's term equals this (JRaft's `expectedTerm`).
    pub expected_term: Option<Term>,
}

/// Everything that can happen to a core.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub enum Input<N: NodeId> {
    /// A message from a peer. A message claiming to come from this node itself is
    /// dropped and counted (the core delivers its own vote to itself).
    Message {
        /// The sender.
        from: N,
        /// The message.
        message: Message<N>,
    },
    /// A timer the core asked for has expired.
    Timeout(Timer),
    /// Client commands, in order. A batch becomes one `AppendLog` action.
    Propose(Vec<Proposal>),
    /// Every persistence action numbered up to `seq` is durable (one report may cover
    /// many writes: the executor need only report the last write of each fsync). A
    /// report for a write already reported, or for one never issued, changes nothing.
    Persisted {
        /// The sequence number of the last durable write.
        seq: PersistSeq,
    },
    /// The state machine has applied every entry through `index` (the last entry of an
    /// `Apply` action, or any entry before it). The core hands out at most
    /// `CoreOptions::max_apply_ahead` committed entries beyond the last one reported
    /// applied, so an executor that never reports gets no more than that. A report
    /// beyond what was handed out, or below an earlier one, changes nothing.
    Applied {
        /// The last entry applied.
        index: LogIndex,
    },
    /// The executor can no longer carry out this node's actions: a write or fsync failed
    /// (disk full, I/O error), or the state machine failed. The node steps down if it
    /// leads or campaigns, cancels its timers, and ignores every later input until it is
    /// restarted (a restart builds a new core from what is durable): a failed node never
    /// campaigns, grants no new vote and acknowledges no new entry, so the rest of the
    /// group treats it as down and carries on without it. Messages held until their
    /// writes are durable are dropped: a failed node sends nothing more.
    Fail,
    /// Change the membership (leader only; JRaft's `addPeer`, `changePeers`, ...): new
    /// voters first catch up as non-voting members (within
    /// `CoreOptions::catchup_margin` entries of the leader), then a joint configuration
    /// (old and new) is appended, and once it commits the new one alone; the change
    /// completes when that commits. Changes of learners only skip the joint step. One
    /// change at a time: answered by `Action::MembershipChanged`.
    ChangeMembership {
        /// Echoed in the answer.
        id: RequestId,
        /// What to change.
        change: MembershipChange<N>,
    },
    /// Hand leadership to the voter `to` (leader only; `None`: the most up-to-date
    /// voter). Writes are refused (`ProposeError::TransferInProgress`) while the target
    /// is brought up to date; then it is told to campaign at once (`TimeoutNow`). Given
    /// up after two check-quorum rounds (between one and two election timeouts).
    /// Answered by `Action::TransferDone`.
    TransferLeadership {
        /// Echoed in the answer.
        id: RequestId,
        /// The new leader, or any.
        to: Option<N>,
    },
    /// Force this node's configuration to `configuration` (JRaft's `resetPeers`, for
    /// when a majority of the voters is permanently lost), on any node, without
    /// consensus. Fenced: the node moves to the first term of the next configuration
    /// epoch (`Term::epoch`), so nothing from the old configuration's members can count
    /// here again, and a node that hears of the new epoch never campaigns with a
    /// configuration of an older one. Reset every surviving member with the same
    /// configuration; the first leader of the epoch records it in the log. Answered by
    /// `Action::MembershipChanged` once the new term and configuration are durable (no
    /// message of the epoch leaves this node before). Refused with `InvalidChange` when
    /// `configuration` does not make this node a voter, with `ChangeInProgress` while
    /// an earlier reset is still being written, and with `Failed` on a failed node.
    ResetPeers {
        /// Echoed in the answer.
        id: RequestId,
        /// The new configuration (voters and learners).
        configuration: Configuration<N>,
    },
    /// Linearizable reads without a log write (F18, F19): the node answers
    /// `Action::ReadReady` with a *read index* — a state machine that has applied
    /// through it reflects every write completed before the read arrived. A leader
    /// takes the commit index (once an entry of its own term is committed: until then
    /// the reads wait), then confirms it still leads with a heartbeat round a quorum
    /// acknowledges; every read that arrived before a round starts is served by it, and
    /// one round is in flight at a time (reads arriving meanwhile wait for the next).
    /// A follower or learner asks its leader and answers with the leader's index.
    /// `lease_now`: the caller's monotonic clock, for a lease read — answered at once
    /// while the leader's lease (`CoreOptions::read_lease`) holds at that time, and
    /// otherwise by a round that renews the lease from `lease_now`; `None`, or a lease
    /// of 0, takes a round.
    ReadIndex {
        /// The reads, echoed in the answer.
        ids: Vec<RequestId>,
        /// For a lease read: the current time, in the units of `read_lease`.
        lease_now: Option<u64>,
    },
    /// Take a snapshot now if anything was applied since the latest one: the snapshot
    /// interval elapsed (the executor owns that timer) or an operator asked. The core
    /// answers with `Action::TakeSnapshot`, or nothing if a snapshot is being taken or
    /// nothing new was applied.
    TakeSnapshot,
    /// The snapshot asked for by `Action::TakeSnapshot` ending at `last_included` is
    /// durable (`saved`), or could not be saved (`!saved`: the core asks again at the
    /// next trigger). On success the log is compacted (`Action::CompactLog`).
    SnapshotSaved {
        /// The snapshot's last included entry, as in the action.
        last_included: LogId,
        /// Whether it was saved durably.
        saved: bool,
    },
    /// The data of the snapshot asked for by `Action::FetchSnapshot` has been fetched
    /// (`fetched`), or could not be (`!fetched`: the leader is told and tries again).
    SnapshotFetched {
        /// The snapshot's last included entry, as in the action.
        last_included: LogId,
        /// Whether every byte of it is here.
        fetched: bool,
    },
}

/// What the core asks the caller to do, in order.
///
/// THE EXECUTOR'S CONTRACT: the persistence actions (`SaveHardState`, `TruncateLog`,
/// `AppendLog`, `InstallSnapshot`) carry increasing sequence numbers and must take effect in that order,
/// across steps; once every write up to `seq` is durable, step `Input::Persisted {
/// seq }`. Every other action may be carried out at once: the core itself holds back
/// the messages that must wait for durability (a vote, an acknowledgement) and emits
/// them as `Send` only after the writes they depend on are reported durable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub enum Action<N: NodeId> {
    /// Make term and vote durable.
    SaveHardState {
        /// This write's sequence number.
        seq: PersistSeq,
        /// Term and vote.
        hard_state: HardState<N>,
    },
    /// Delete every log entry with index ≥ `from`. Starts `epoch`.
    TruncateLog {
        /// This write's sequence number.
        seq: PersistSeq,
        /// First index to delete.
        from: LogIndex,
        /// The new log epoch.
        epoch: LogEpoch,
    },
    /// Write these contiguous entries after the current end of the log.
    AppendLog {
        /// This write's sequence number.
        seq: PersistSeq,
        /// The log epoch the write belongs to (informational: the core matches the
        /// completion to the write by `seq`).
        epoch: LogEpoch,
        /// The entries (the caller supplies payloads: from proposals on the leader, from
        /// the received message on followers).
        entries: Vec<EntryMeta<N>>,
    },
    /// Send a message now.
    Send {
        /// Destination.
        to: N,
        /// The message.
        message: Message<N>,
    },
    /// (Re)start a timer.
    ResetTimer(Timer),
    /// Stop a timer.
    CancelTimer(Timer),
    /// A proposal became the entry `log_id`; it is not committed yet.
    ProposalAccepted {
        /// The proposal.
        id: RequestId,
        /// Where it sits in the log.
        log_id: LogId,
    },
    /// A proposal was refused; nothing was appended for it.
    ProposalRejected {
        /// The proposal.
        id: RequestId,
        /// Why.
        error: ProposeError<N>,
    },
    /// These entries are committed and durable here: apply them to the state machine in
    /// order, then report `Input::Applied`. Consecutive `Apply` actions cover
    /// consecutive index ranges; one action never holds more than
    /// `CoreOptions::max_apply_ahead` entries, and no more are handed out until earlier
    /// ones are reported applied (so a long catch-up is streamed, not handed over at once).
    Apply {
        /// The entries, contiguous and non-empty (the caller supplies the payloads).
        entries: Vec<EntryMeta<N>>,
    },
    /// This node's role, term or known leader changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The current term.
        term: Term,
        /// The leader, if known.
        leader: Option<N>,
        /// The highest committed index when the change happened. Entries through it are
        /// handed out (now or, paced by `Input::Applied`, later) before anything the new
        /// role commits: an executor that tells the state machine of the change should
        /// do so after it has applied through this index, so the state machine hears of
        /// a term's entries before it hears that the term's leadership ended (log order).
        commit_index: LogIndex,
    },
    /// The answer to `Input::ReadIndex`: every read in `ids` may be served once the
    /// state machine has applied through the index (on this node), or why not.
    ReadReady {
        /// The reads, as in the input.
        ids: Vec<RequestId>,
        /// The read index, or why there is none.
        result: Result<LogIndex, ReadIndexError<N>>,
    },
    /// The answer to `Input::ChangeMembership` (the configuration now committed) and
    /// to `Input::ResetPeers` (the configuration now in force), or why the change failed.
    MembershipChanged {
        /// The request.
        id: RequestId,
        /// The new configuration, committed.
        result: Result<Configuration<N>, AdminError<N>>,
    },
    /// The answer to `Input::TransferLeadership`: `Ok(target)` once this node, having
    /// sent `TimeoutNow` to the target, stepped down for a newer term (normally the
    /// target's campaign, which may still lose), or why the transfer failed:
    /// `TransferTimedOut` (this node leads on and takes writes again), `LeadershipLost`
    /// or `Failed` (it no longer leads), or a refusal that started nothing.
    TransferDone {
        /// The request.
        id: RequestId,
        /// The target, or why not.
        result: Result<N, AdminError<N>>,
    },
    /// Save the state machine's state as a snapshot covering exactly the entries
    /// through `meta.last_included` — the last entry handed out in an `Apply` before this
    /// action, so the executor carries it out in order with the `Apply` actions — then
    /// make it durable (data first, then its metadata, so a crash leaves the old
    /// snapshot or the new one, never a torn one) and step `Input::SnapshotSaved` —
    /// always, saved or not: the core asks for no other snapshot until it hears. May
    /// take long; the core goes on meanwhile. Keep the snapshot with the highest index.
    TakeSnapshot {
        /// What the snapshot covers and the configuration to record with it.
        meta: SnapshotMeta<N>,
    },
    /// The log entries with index ≤ `through` are covered by a durable snapshot: delete
    /// them from storage, but only once every `Apply` handed out before this action has
    /// read its entries (after a `RestoreSnapshot`, entries handed out before it may
    /// still be waiting to be applied). Need not be durable: a restart ignores the
    /// entries a snapshot covers.
    CompactLog {
        /// The last index to delete.
        through: LogIndex,
        /// The durable snapshot that covers them (`through <= snapshot.index`): where the
        /// log continues when it ends before `through` (`LogStore::compact`).
        snapshot: LogId,
    },
    /// Fetch the data of the snapshot `meta` from the leader `from` (its executor serves
    /// it) into a staging area, skipping what this node already has, resuming after a
    /// broken connection; then step `Input::SnapshotFetched` — fetched, or not once the
    /// leader cannot be reached for a while (a fetch must end). Nothing is installed
    /// yet. A later `FetchSnapshot` supersedes one still running (the core gives a
    /// fetch up when the term changes or another leader sends a snapshot); the report
    /// of a superseded fetch is ignored.
    FetchSnapshot {
        /// The leader holding the snapshot.
        from: N,
        /// The snapshot to fetch.
        meta: SnapshotMeta<N>,
    },
    /// A persistence action, in the write order: make the fetched snapshot `meta` this
    /// node's snapshot, durably (data before metadata; never torn) — unless the node
    /// already holds a durable snapshot at or beyond its index, which it keeps. Deletes
    /// no log entry: the core says `CompactLog` when entries may go.
    InstallSnapshot {
        /// This write's sequence number.
        seq: PersistSeq,
        /// The snapshot.
        meta: SnapshotMeta<N>,
    },
    /// Replace the state machine's state with the installed snapshot `meta`, after
    /// every `Apply` and `TakeSnapshot` handed out before this action and before any
    /// after it. The state machine is then at `meta.last_included` (no `Input::Applied`
    /// is needed). Entries handed out before it are still applied first, so for a
    /// moment an executor may hold up to twice `max_apply_ahead` entries.
    RestoreSnapshot {
        /// The snapshot (already durable).
        meta: SnapshotMeta<N>,
    },
}

impl<N: NodeId> Action<N> {
    /// The sequence number of a persistence action (`SaveHardState`, `TruncateLog`,
    /// `AppendLog`, `InstallSnapshot`); `None` for every other action.
    pub fn persist_seq(&self) -> Option<PersistSeq> {
        match self {
            Action::SaveHardState { seq, .. }
            | Action::TruncateLog { seq, .. }
            | Action::AppendLog { seq, .. }
            | Action::InstallSnapshot { seq, .. } => Some(*seq),
            Action::Send { .. }
            | Action::ResetTimer(_)
            | Action::CancelTimer(_)
            | Action::ProposalAccepted { .. }
            | Action::ProposalRejected { .. }
            | Action::Apply { .. }
            | Action::RoleChanged { .. }
            | Action::MembershipChanged { .. }
            | Action::TransferDone { .. }
            | Action::ReadReady { .. }
            | Action::TakeSnapshot { .. }
            | Action::CompactLog { .. }
            | Action::FetchSnapshot { .. }
            | Action::RestoreSnapshot { .. } => None,
        }
    }
}

/// A node's role in its current term.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Role {
    /// Follows a leader (or waits for one).
    #[default]
    Follower,
    /// Asking for pre-votes before starting a real election (F23).
    PreCandidate,
    /// Campaigning in its current term.
    Candidate,
    /// Leads its current term.
    Leader,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Role::Follower => "Follower",
            Role::PreCandidate => "PreCandidate",
            Role::Candidate => "Candidate",
            Role::Leader => "Leader",
        };
        f.write_str(name)
    }
}
