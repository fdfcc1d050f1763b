//! The runtime's typed errors (F03).

use crate::core::{LogIndex, PeerId, Term};
use crate::storage::StorageError;

/// Why `Node::apply` did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// This node is not the leader (JRaft EPERM). Nothing was appended: retry at the hint.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader as far as this node knows.
        leader_hint: Option<PeerId>,
    },
    /// The task's expected term differs from the leader's (JRaft ESTALE). Nothing appended.
    #[error("expected term {expected}, leader is in term {actual}")]
    TermMismatch {
        /// What the task expected.
        expected: Term,
        /// The leader's term.
        actual: Term,
    },
    /// The proposal queue is full and the task mode is non-blocking, or the leader's
    /// uncommitted entries already hold `CoreOptions::max_uncommitted_bytes` of payload
    /// (JRaft EBUSY). Nothing appended; retry later.
    #[error("overloaded: the proposal queue is full or too much is uncommitted")]
    Overloaded,
    /// The node has stopped; the task was not accepted. Nothing appended.
    #[error("node is stopped")]
    Stopped,
    /// The leader is handing leadership to another node and takes no writes meanwhile
    /// (JRaft EBUSY). Nothing appended: retry shortly, at the new leader.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// The node is shutting down (JRaft ECANCELED). The task may or may not have been
    /// appended before: its outcome is unknown.
    #[error("node is shutting down; outcome unknown")]
    ShuttingDown,
    /// Leadership was lost after the entry was appended: a later leader may still commit
    /// it. Outcome unknown (a Jepsen `:info`).
    #[error("leadership lost before the entry committed; outcome unknown")]
    LeadershipLost,
    /// The node failed (a state machine or storage failure) while the task was in
    /// flight: it may have been appended, and a later leader may still commit it.
    /// Outcome unknown.
    #[error("node failed: {failure}")]
    NodeFailed {
        /// The failure.
        failure: NodeFailure,
    },
    /// The node was already in its error state and refused the task (JRaft EPERM on a
    /// node in error). Nothing appended: retry at another node.
    #[error("node is in its error state: {failure}")]
    NodeInError {
        /// The failure that put it there.
        failure: NodeFailure,
    },
}

/// Why a read (`Node::read`, `Node::read_index`) got no answer. A read changes nothing,
/// so every one of these is safe to retry (at the leader hint for `NotLeader`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// This node neither leads nor knows a leader to ask.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader as far as this node knows.
        leader_hint: Option<PeerId>,
    },
    /// Leadership was lost (or the leader this follower asked stopped being its leader)
    /// before the read was confirmed.
    #[error("leadership lost before the read was confirmed")]
    LeadershipLost,
    /// The leader's answer to this follower's read was lost.
    #[error("the leader's answer was lost")]
    AnswerLost,
    /// Too many reads are waiting (the read queue, or `CoreOptions::max_pending_reads`).
    #[error("overloaded: too many reads waiting")]
    Overloaded,
    /// The node is in its error state (a storage or state machine failure).
    #[error("node is in its error state: {failure}")]
    NodeInError {
        /// The failure.
        failure: NodeFailure,
    },
    /// The node has stopped or is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
    /// No answer within `NodeOptions::read_timeout` (a leader cut off from its quorum
    /// keeps trying until check-quorum deposes it; a follower's leader may be gone).
    #[error("no answer within the read timeout")]
    Timeout,
}

impl ReadError {
    /// The core's refusal of a read; `failure` is the node's, when it has failed (the
    /// core refuses reads with `Failed` only after the runtime reported one).
    pub(crate) fn from_core(
        error: crate::core::ReadIndexError<PeerId>,
        failure: Option<&NodeFailure>,
    ) -> ReadError {
        use crate::core::ReadIndexError as Core;
        match error {
            Core::NotLeader { leader_hint } => ReadError::NotLeader { leader_hint },
            Core::LeadershipLost => ReadError::LeadershipLost,
            Core::AnswerLost => ReadError::AnswerLost,
            Core::Overloaded => ReadError::Overloaded,
            Core::Failed => ReadError::NodeInError {
                failure: failure.cloned().unwrap_or_else(|| {
                    NodeFailure::Internal("the core failed without a recorded cause".into())
                }),
            },
        }
    }
}

impl ApplyError {
    /// True when the task certainly did not take effect (safe to retry elsewhere).
    pub fn definitely_not_applied(&self) -> bool {
        matches!(
            self,
            ApplyError::NotLeader { .. }
                | ApplyError::TermMismatch { .. }
                | ApplyError::TransferInProgress
                | ApplyError::Overloaded
                | ApplyError::Stopped
                | ApplyError::NodeInError { .. }
        )
    }
}

/// Why `Node::snapshot` did not produce a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The node has no snapshot store, or its state machine does not support
    /// snapshots (`StateMachine::supports_snapshots`).
    #[error("snapshots are not enabled on this node")]
    Unsupported,
    /// The save failed (the state machine's or the store's error); the node carries on
    /// with its log and tries again at the next trigger.
    #[error("snapshot failed: {failure}")]
    Failed {
        /// What failed.
        failure: SnapshotFailure,
    },
    /// The node is in its error state.
    #[error("node failed: {failure}")]
    NodeFailed {
        /// The failure.
        failure: NodeFailure,
    },
    /// The node stopped before the snapshot was saved.
    #[error("node is stopped")]
    Stopped,
}

/// Why a snapshot could not be saved. Only the snapshot fails: the node keeps its log
/// and tries again at the next trigger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotFailure {
    /// The snapshot store could not create, write or commit the snapshot.
    #[error("snapshot storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The state machine's `on_snapshot_save` (or the writer it returned) failed or
    /// panicked.
    #[error("the state machine's snapshot failed: {0}")]
    StateMachine(#[from] StateMachineError),
    /// The process could not provide what the save needs (a thread).
    #[error("cannot save a snapshot: {0}")]
    Resources(String),
    /// The state machine was not at the entry the snapshot would be labelled with: a bug
    /// in Concord, reported rather than saved.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a node did not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// An option is invalid.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Storage could not be read, or holds a state Raft cannot have written.
    #[error("cannot recover from storage: {0}")]
    Storage(#[from] StorageError),
    /// The process could not provide what the node needs to run (a thread).
    #[error("cannot start the node: {reason}")]
    Resources {
        /// What was missing.
        reason: String,
    },
    /// The server could not listen on its endpoint (in use, not a local address, no
    /// permission).
    #[error("cannot listen on {endpoint}: {reason}")]
    Listen {
        /// The endpoint asked for.
        endpoint: String,
        /// The operating system's error.
        reason: String,
    },
}

/// A state machine's failure (F06): returned by `on_apply` or `on_apply_batch`, it puts
/// the node in its error state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct StateMachineError {
    message: String,
}

impl StateMachineError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        StateMachineError {
            message: message.into(),
        }
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A batch applied in part (JRaft's `Iterator::setErrorAndRollback`): `responses`
/// answer the batch's first `responses.len()` entries, which count as applied; the
/// entry after them failed with `error`, and neither it nor any later entry is applied
/// until the node is restarted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialApply<R> {
    /// Responses of the entries applied, in order.
    pub responses: Vec<R>,
    /// Why the next entry could not be applied.
    pub error: StateMachineError,
}

impl<R> PartialApply<R> {
    /// JRaft's form: of the entries worked on so far (one response each), the last
    /// `rollback` are rolled back (not applied).
    pub fn rollback(mut responses: Vec<R>, rollback: usize, error: StateMachineError) -> Self {
        responses.truncate(responses.len().saturating_sub(rollback));
        PartialApply { responses, error }
    }
}

impl<R> From<StateMachineError> for PartialApply<R> {
    /// Nothing of the batch applied.
    fn from(error: StateMachineError) -> Self {
        PartialApply {
            responses: Vec::new(),
            error,
        }
    }
}

/// Why a node entered its error state. A failed node steps aside (a leader steps down;
/// no node campaigns or votes), applies nothing more, answers the tasks it held with
/// `ApplyError::NodeFailed` and refuses every new one with `ApplyError::NodeInError`
/// until it is restarted. It is part of [`NodeStatus`](crate::runtime::NodeStatus) (and
/// serializes with it, for the describe page and admin tools).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum NodeFailure {
    /// The log store failed: a write, an fsync, or a read of entries the node needs.
    #[error("log storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The state machine returned an error or panicked: applying the entry at `index`,
    /// or in a callback (`index` is `None`).
    #[error("state machine failed{}: {error}", index.map(|i| format!(" at index {i}")).unwrap_or_default())]
    StateMachine {
        /// The entry that could not be applied.
        index: Option<LogIndex>,
        /// What the state machine said.
        error: StateMachineError,
    },
    /// A core invariant broke (checked with `NodeOptions::check_invariants`), or the
    /// runtime found its own state inconsistent (a payload it must hold is missing): a
    /// bug in Concord, reported rather than acted on.
    #[error("internal error: {0}")]
    Internal(String),
    /// One of the node's own tasks (the log writer, the state machine's thread) is gone.
    #[error("the node's {0} stopped")]
    TaskStopped(String),
}

/// A snapshot file that could not be written or read is the state machine's failure in
/// `on_snapshot_save` / `on_snapshot_load` (so `?` works on the sink and the source).
impl From<StorageError> for StateMachineError {
    fn from(error: StorageError) -> Self {
        StateMachineError::new(error.to_string())
    }
}

/// Why a membership change or a leadership transfer asked of a `Node` failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminCallError {
    /// The Raft core refused or gave up the request (not the leader, busy, a peer that
    /// did not catch up, leadership lost, ...).
    #[error(transparent)]
    Refused(#[from] crate::core::AdminError<crate::core::PeerId>),
    /// The node stopped before the request completed.
    #[error("node is stopped")]
    Stopped,
}
