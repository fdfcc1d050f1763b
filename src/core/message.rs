//! Messages between Raft peers. The sender is not inside the message: the transport
//! knows it and hands it to the core as `Input::Message { from, .. }`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::entry::EntryMeta;
use super::snapshot::SnapshotMeta;
use super::types::{LogId, LogIndex, NodeId, Term};

/// A protocol message. Every message carries the sender's term (Raft §5.1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub enum Message<N: NodeId> {
    /// Pre-vote request (F23): "would you vote for me in `term`?" — `term` is the
    /// candidate's current term + 1, and nobody changes state because of it.
    PreVote(VoteRequest),
    /// Answer to a pre-vote. Granted answers carry the proposed term; refusals carry the
    /// voter's own term.
    PreVoteResponse(VoteResponse),
    /// RequestVote (Raft §5.2).
    Vote(VoteRequest),
    /// Answer to RequestVote.
    VoteResponse(VoteResponse),
    /// AppendEntries (Raft §5.3): entry metadata only; the transport attaches payloads.
    Append(AppendRequest<N>),
    /// Answer to AppendEntries.
    AppendResponse(AppendResponse),
    /// Leader heartbeat carrying a commit index the receiver is known to be able to use.
    Heartbeat(Heartbeat),
    /// Answer to a heartbeat; proves the follower is alive and still follows this term.
    HeartbeatResponse(HeartbeatResponse),
    /// InstallSnapshot (Raft §7): the leader's latest snapshot, for a follower that
    /// needs entries the leader's log no longer holds. Metadata only: the follower's
    /// executor fetches the data (`Action::FetchSnapshot`).
    InstallSnapshot(InstallSnapshotRequest<N>),
    /// Answer to InstallSnapshot.
    InstallSnapshotResponse(InstallSnapshotResponse),
    /// Leadership transfer: the leader tells an up-to-date voter to campaign at once,
    /// skipping pre-vote (etcd's `MsgTimeoutNow`, JRaft's `TimeoutNowRequest`).
    TimeoutNow(TimeoutNow),
    /// A follower or learner asks its leader for a read index (`Input::ReadIndex`).
    ReadIndex(ReadIndexRequest),
    /// The leader's answer to `ReadIndex`.
    ReadIndexResponse(ReadIndexResponse),
}

impl<N: NodeId> Message<N> {
    /// The sender's term.
    pub fn term(&self) -> Term {
        match self {
            Message::PreVote(m) | Message::Vote(m) => m.term,
            Message::PreVoteResponse(m) | Message::VoteResponse(m) => m.term,
            Message::Append(m) => m.term,
            Message::AppendResponse(m) => m.term,
            Message::Heartbeat(m) => m.term,
            Message::HeartbeatResponse(m) => m.term,
            Message::InstallSnapshot(m) => m.term,
            Message::InstallSnapshotResponse(m) => m.term,
            Message::TimeoutNow(m) => m.term,
            Message::ReadIndex(m) => m.term,
            Message::ReadIndexResponse(m) => m.term,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Message::PreVote(_) => "PreVote",
            Message::PreVoteResponse(_) => "PreVoteResponse",
            Message::Vote(_) => "Vote",
            Message::VoteResponse(_) => "VoteResponse",
            Message::Append(_) => "Append",
            Message::AppendResponse(_) => "AppendResponse",
            Message::Heartbeat(_) => "Heartbeat",
            Message::HeartbeatResponse(_) => "HeartbeatResponse",
            Message::InstallSnapshot(_) => "InstallSnapshot",
            Message::InstallSnapshotResponse(_) => "InstallSnapshotResponse",
            Message::TimeoutNow(_) => "TimeoutNow",
            Message::ReadIndex(_) => "ReadIndex",
            Message::ReadIndexResponse(_) => "ReadIndexResponse",
        }
    }
}

/// A vote or pre-vote request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoteRequest {
    /// The term the candidate campaigns for.
    pub term: Term,
    /// The candidate's last log id, for the up-to-date check (Raft §5.4.1).
    pub last_log_id: LogId,
    /// The candidate campaigns because the leader handed leadership to it
    /// (`TimeoutNow`): voters grant the vote even while they hear from that leader
    /// (the lease of F24 protects against disruption, not against a handover). The
    /// log check still applies.
    #[serde(default)]
    pub leadership_transfer: bool,
}

/// A leader's instruction to campaign now (leadership transfer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeoutNow {
    /// The leader's term (a newer one is adopted first, as from any message).
    pub term: Term,
    /// The leader's last log id when it sent this: the receiver campaigns only if its
    /// own log ends there, so a copy that arrives late (after the transfer was given up
    /// and the leader took more writes) does not depose a leader for a candidate that
    /// would lose.
    pub last_log_id: LogId,
}

/// A vote or pre-vote answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoteResponse {
    /// See [`Message::PreVoteResponse`] and [`Message::VoteResponse`].
    pub term: Term,
    /// True when the vote is granted.
    pub granted: bool,
}

/// AppendEntries.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct AppendRequest<N: NodeId> {
    /// The leader's term.
    pub term: Term,
    /// The log id of the entry just before `entries`.
    pub prev_log_id: LogId,
    /// Contiguous entries following `prev_log_id` (possibly none).
    pub entries: Vec<EntryMeta<N>>,
    /// The leader's commit index.
    pub leader_commit: LogIndex,
}

/// Outcome of an AppendEntries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AppendResult {
    /// The follower's log now matches the leader's up to and including `last_matched`,
    /// and those entries are durable on the follower.
    Success {
        /// Highest index known to match the leader's log.
        last_matched: LogIndex,
    },
    /// The follower has no entry matching `prev_log_id`. `hint` lets the leader skip a
    /// whole term of mismatching entries per round trip (F27): it is the follower's last
    /// entry at or below `rejected_prev` whose term is ≤ the leader's `prev_log_id.term`.
    Conflict {
        /// The `prev_log_id.index` that was rejected.
        rejected_prev: LogIndex,
        /// Where the leader should look next.
        hint: LogId,
    },
    /// The request's term was stale; the response term tells the sender the newer term.
    StaleTerm,
}

/// Answer to AppendEntries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppendResponse {
    /// The follower's term.
    pub term: Term,
    /// What happened.
    pub result: AppendResult,
}

/// Heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The leader's term.
    pub term: Term,
    /// `min(leader commit, the receiver's match index)`: an index up to which the
    /// receiver's log is known to agree with the leader's, so it may commit that far.
    pub commit: LogIndex,
    /// The leader's latest read round (`Input::ReadIndex`), echoed in the answer: an
    /// answer confirms the leader still led in its term when the round started (0: no
    /// round yet this term). New in wire version 3.
    pub round: u64,
}

/// Answer to a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The follower's term.
    pub term: Term,
    /// The `round` of the heartbeat answered (0 in an answer to a stale heartbeat).
    pub round: u64,
    /// The longest lease this answer lets the leader hold, in `CoreOptions::read_lease`
    /// units: the sender's own `read_lease` (it refuses votes until its election timer
    /// fires, and derives `read_lease` from that timeout), 0 when it runs without
    /// leases (no such refusal) or answers a stale heartbeat. A round gives the leader
    /// the lease a quorum of its answers covers (`read.rs`), so a group that mixes nodes
    /// with and without leases, or unequal election timeouts, gets shorter leases or
    /// none rather than unsafe ones.
    pub lease_cover: u64,
}

/// A follower's or learner's request for a read index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReadIndexRequest {
    /// The asker's term.
    pub term: Term,
    /// Numbers the asker's requests to this leader in this term, increasing: echoed in
    /// the answer, and an answer to a later one means the earlier answers were lost
    /// (the leader answers in order).
    pub id: u64,
}

/// What a leader answers to `ReadIndex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReadIndexResult {
    /// Leadership was confirmed after the request arrived: serve once applied through
    /// this index.
    Ready(LogIndex),
    /// The receiver does not lead this term (or stopped leading before confirming).
    NotLeader,
    /// Too many reads wait on the leader.
    Overloaded,
}

/// The answer to `ReadIndex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReadIndexResponse {
    /// The answerer's term.
    pub term: Term,
    /// The request's `id`.
    pub id: u64,
    /// The read index, or why not.
    pub result: ReadIndexResult,
}

/// InstallSnapshot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct InstallSnapshotRequest<N: NodeId> {
    /// The leader's term.
    pub term: Term,
    /// The snapshot's last included entry and configuration.
    pub meta: SnapshotMeta<N>,
}

/// Outcome of an InstallSnapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InstallSnapshotResult {
    /// The follower's log matches the leader's through `last_matched`, durably: the
    /// snapshot is installed, or the follower already had every entry it covers.
    Installed {
        /// Highest index known to match the leader's log.
        last_matched: LogIndex,
    },
    /// The snapshot ending at `last_included` could not be fetched or installed; the
    /// leader tries again later.
    Failed {
        /// The snapshot that failed.
        last_included: LogIndex,
    },
    /// The request's term was stale; the response term tells the sender the newer term.
    StaleTerm,
}

/// Answer to InstallSnapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstallSnapshotResponse {
    /// The follower's term.
    pub term: Term,
    /// What happened.
    pub result: InstallSnapshotResult,
}

impl<N: NodeId> fmt::Display for Message<N> {
    /// A one-line description used by scenario tests and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::PreVote(m) => write!(f, "PreVote term={} last={}", m.term, m.last_log_id),
            Message::Vote(m) => {
                write!(f, "Vote term={} last={}", m.term, m.last_log_id)?;
                if m.leadership_transfer {
                    f.write_str(" transfer")?;
                }
                Ok(())
            }
            Message::PreVoteResponse(m) => {
                write!(f, "PreVoteResponse term={} granted={}", m.term, m.granted)
            }
            Message::VoteResponse(m) => {
                write!(f, "VoteResponse term={} granted={}", m.term, m.granted)
            }
            Message::Append(m) => {
                write!(f, "Append term={} prev={} entries=[", m.term, m.prev_log_id)?;
                for (i, e) in m.entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{}", e.log_id)?;
                    match &e.kind {
                        super::entry::EntryKind::Blank => f.write_str("(blank)")?,
                        super::entry::EntryKind::Normal => {}
                        super::entry::EntryKind::Configuration(_) => f.write_str("(conf)")?,
                    }
                }
                write!(f, "] commit={}", m.leader_commit)
            }
            Message::AppendResponse(m) => match m.result {
                AppendResult::Success { last_matched } => {
                    write!(
                        f,
                        "AppendResponse term={} ok match={}",
                        m.term, last_matched
                    )
                }
                AppendResult::Conflict {
                    rejected_prev,
                    hint,
                } => write!(
                    f,
                    "AppendResponse term={} reject prev={} hint={}",
                    m.term, rejected_prev, hint
                ),
                AppendResult::StaleTerm => write!(f, "AppendResponse term={} stale", m.term),
            },
            Message::Heartbeat(m) => {
                write!(f, "Heartbeat term={} commit={}", m.term, m.commit)?;
                if m.round > 0 {
                    write!(f, " round={}", m.round)?;
                }
                Ok(())
            }
            Message::HeartbeatResponse(m) => {
                write!(f, "HeartbeatResponse term={}", m.term)?;
                if m.round > 0 {
                    write!(f, " round={}", m.round)?;
                }
                Ok(())
            }
            Message::ReadIndex(m) => write!(f, "ReadIndex term={} id={}", m.term, m.id),
            Message::ReadIndexResponse(m) => match m.result {
                ReadIndexResult::Ready(index) => write!(
                    f,
                    "ReadIndexResponse term={} id={} index={}",
                    m.term, m.id, index
                ),
                ReadIndexResult::NotLeader => {
                    write!(
                        f,
                        "ReadIndexResponse term={} id={} not-leader",
                        m.term, m.id
                    )
                }
                ReadIndexResult::Overloaded => {
                    write!(
                        f,
                        "ReadIndexResponse term={} id={} overloaded",
                        m.term, m.id
                    )
                }
            },
            Message::InstallSnapshot(m) => write!(
                f,
                "InstallSnapshot term={} last={}",
                m.term, m.meta.last_included
            ),
            Message::InstallSnapshotResponse(m) => match m.result {
                InstallSnapshotResult::Installed { last_matched } => write!(
                    f,
                    "InstallSnapshotResponse term={} ok match={}",
                    m.term, last_matched
                ),
                InstallSnapshotResult::Failed { last_included } => write!(
                    f,
                    "InstallSnapshotResponse term={} failed last={}",
                    m.term, last_included
                ),
                InstallSnapshotResult::StaleTerm => {
                    write!(f, "InstallSnapshotResponse term={} stale", m.term)
                }
            },
            Message::TimeoutNow(m) => {
                write!(f, "TimeoutNow term={} last={}", m.term, m.last_log_id)
            }
        }
    }
}
