//! Typed errors of the core's boundary (JRAFT_GUIDE_NOTES F03).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::types::Term;

/// A string could not be parsed into one of the core's types.
///
/// Carries what was being parsed, the offending input (truncated to 64 characters so a
/// hostile input cannot blow up log lines) and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ParseError {
    /// What was being parsed ("endpoint", "peer id", "configuration", ...).
    pub what: &'static str,
    /// The input, truncated to 64 characters.
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, reason: impl Into<String>) -> ParseError {
        let mut shown: String = input.chars().take(64).collect();
        if input.chars().count() > 64 {
            shown.push('…');
        }
        ParseError {
            what,
            input: shown,
            reason: reason.into(),
        }
    }
}

/// Why the core refused a proposal. Sent back in [`crate::core::Action::ProposalRejected`].
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
#[non_exhaustive]
pub enum ProposeError<N: fmt::Display> {
    /// This node is not the leader (JRaft EPERM). `leader_hint` is the leader this node
    /// last heard from in its current term, if any.
    #[error("not the leader (leader hint: {})", display_hint(.leader_hint))]
    NotLeader {
        /// The leader as far as this node knows.
        leader_hint: Option<N>,
    },
    /// The task carried an expected term and the leader's term differs (JRaft ESTALE).
    #[error("expected term {expected} but the leader's term is {actual}")]
    TermMismatch {
        /// The term the caller expected.
        expected: Term,
        /// The leader's current term.
        actual: Term,
    },
    /// The leader is handing leadership over and does not accept writes (JRaft EBUSY).
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// The leader's uncommitted entries already hold `CoreOptions::max_uncommitted_bytes`
    /// of payload (JRaft EBUSY): accepting more would only grow memory while a quorum
    /// is not keeping up. Retry later.
    #[error("too many uncommitted bytes on the leader")]
    Overloaded,
}

fn display_hint<N: fmt::Display>(hint: &Option<N>) -> String {
    match hint {
        Some(n) => n.to_string(),
        None => "unknown".to_string(),
    }
}

/// Why a read got no read index (`Input::ReadIndex`). Sent back in
/// [`crate::core::Action::ReadReady`]. Every refusal is safe to retry; none means the
/// state changed.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
#[non_exhaustive]
pub enum ReadIndexError<N: fmt::Display> {
    /// This node neither leads nor knows a leader to ask (JRaft EPERM). `leader_hint`:
    /// the leader it last heard from in its current term, if any.
    #[error("not the leader (leader hint: {})", display_hint(.leader_hint))]
    NotLeader {
        /// The leader as far as this node knows.
        leader_hint: Option<N>,
    },
    /// The leader stepped down (or the leader a follower asked stopped being the one
    /// it follows) before leadership was confirmed for this read. Retry.
    #[error("leadership lost before the read was confirmed")]
    LeadershipLost,
    /// The leader's answer to a forwarded read was lost (a later one arrived first).
    /// Retry.
    #[error("the leader's answer was lost")]
    AnswerLost,
    /// `CoreOptions::max_pending_reads` reads are already waiting here (or on the
    /// leader a follower asked). Retry later.
    #[error("too many reads waiting")]
    Overloaded,
    /// The node failed (`Input::Fail`) and takes part in nothing until restarted.
    #[error("the node has failed")]
    Failed,
}

/// Why a membership change (`Input::ChangeMembership`) or a leadership transfer
/// (`Input::TransferLeadership`) failed. Sent back in
/// [`crate::core::Action::MembershipChanged`] and [`crate::core::Action::TransferDone`].
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
#[non_exhaustive]
pub enum AdminError<N: fmt::Display> {
    /// This node is not the leader (JRaft EPERM); nothing was started.
    #[error("not the leader (leader hint: {})", display_hint(.leader_hint))]
    NotLeader {
        /// The leader as far as this node knows.
        leader_hint: Option<N>,
    },
    /// Another membership change is running, or the last one is not committed yet
    /// (JRaft EBUSY); nothing was started. Retry once it is done.
    #[error("a membership change is in progress")]
    ChangeInProgress,
    /// A leadership transfer is running (JRaft EBUSY); nothing was started.
    #[error("a leadership transfer is in progress")]
    TransferInProgress,
    /// The leader was elected moments ago and has not committed an entry of its term
    /// yet (JRaft EAGAIN); nothing was started. Retry shortly.
    #[error("the leader has not committed an entry of its term yet")]
    NotReady,
    /// The change asked for is not a valid configuration (no voter left, a node both
    /// voter and learner); nothing was started.
    #[error("invalid membership change: {reason}")]
    InvalidChange {
        /// Why.
        reason: String,
    },
    /// A new voter (a new node or a learner being promoted) did not answer for a whole
    /// check-quorum round while catching up (JRaft ECATCHUP), or was still further
    /// behind than `CoreOptions::catchup_margin` after `CoreOptions::catchup_max_rounds`
    /// rounds (when set; by default a new voter that answers keeps the change waiting,
    /// as in JRaft); nothing was appended and the configuration is unchanged.
    #[error("peer {peer} did not catch up")]
    CatchUpFailed {
        /// The peer.
        peer: N,
    },
    /// The transfer target is not a voter of the configuration in force (or there is
    /// no other voter to pick); nothing was started.
    #[error("{} is not a voter to transfer leadership to", display_hint(.peer))]
    NotAVoter {
        /// The target asked for, if one was named.
        peer: Option<N>,
    },
    /// The target did not take over within two check-quorum rounds (one to two election
    /// timeouts); this node leads on and accepts writes again.
    #[error("leadership transfer timed out")]
    TransferTimedOut,
    /// This node stopped leading before the request completed. For a change whose
    /// configuration entry was already appended the outcome is unknown: the next leader
    /// may still commit it (and then completes the change); look at the configuration
    /// to find out. A change still catching up appended nothing.
    #[error("leadership lost before the request completed; its outcome is unknown")]
    LeadershipLost,
    /// The node failed (`Input::Fail`) and takes part in nothing until restarted.
    #[error("the node has failed")]
    Failed,
}
