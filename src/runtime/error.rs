//! The runtime's typed errors (F03).

use crate::core::{PeerId, Term};

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
    /// The node is in the error state after a state machine or storage failure.
    #[error("node failed: {reason}")]
    NodeFailed {
        /// The failure.
        reason: String,
    },
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
        )
    }
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
    #[error("cannot recover from storage: {reason}")]
    Storage {
        /// The failure.
        reason: String,
    },
}

/// A failure reported by a state machine or the storage; puts the node in its error state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NodeFailure {
    /// What failed.
    pub reason: String,
}
