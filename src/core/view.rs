//! Handler views (issue 12 §2, the way openraft splits its engine into handlers): a
//! short-lived borrow of the leader's state next to the common state a leader's handler
//! consults, taken apart from the rest of the core so that a handler decides from both
//! in one place, without re-finding the leader or copying common fields out first, and
//! hands the effects (sends, commits, answers) back to the core.
//!
//! A view changes nothing of the core but the leader's own state (its common fields are
//! borrowed shared, or copied): what it decides about the common state (a new commit
//! index, a message to send) it returns as a value, and the handler that took the view
//! applies it through the core's one path for that effect (`RaftCore::send`,
//! `maybe_commit_as_leader`). So the order of effects, the durable-promise check on
//! every send and the hold queue stay where they are. A handler that must act on the
//! core between two decisions (a send between two pipelined appends, a read round
//! between two progress updates) takes a view for each.
//!
//! The rule, for a reader checking a handler: [`LeaderState`]'s fields are private to
//! `leader.rs`. A handler that needs only the leader's state, or hands it a value it
//! has (count appended bytes, start a check-quorum round, track the removed peers it
//! computed, mark a peer as sent the snapshot's index, take the pending requests out to
//! answer them), calls one of its methods through `RoleState::leader_mut`; a handler
//! that reads the leader's state and the common state together to decide (the log, the
//! commit index, the configuration, the options) does so in a `LeaderView` method and
//! acts on the answer.

use super::configuration::ConfigurationEntry;
use super::leader::LeaderState;
use super::log::RaftLog;
use super::options::CoreOptions;
use super::raft::{RaftCore, RoleState};
use super::types::{LogIndex, NodeId, Term};

/// A leader's handler view: its [`LeaderState`], mutable, with the common state it reads.
pub(crate) struct LeaderView<'a, N: NodeId> {
    /// This node.
    pub(crate) id: &'a N,
    /// The current term (the leader's).
    pub(crate) term: Term,
    /// The log.
    pub(crate) log: &'a RaftLog<N>,
    /// The commit index.
    pub(crate) commit_index: LogIndex,
    /// The configuration in force (`RaftCore::configuration`).
    pub(crate) configuration: &'a ConfigurationEntry<N>,
    /// The options.
    pub(crate) options: &'a CoreOptions,
    /// What only a leader has.
    pub(crate) leader: &'a mut LeaderState<N>,
}

impl<N: NodeId> RaftCore<N> {
    /// The leader's view, when leading.
    pub(crate) fn leader_view(&mut self) -> Option<LeaderView<'_, N>> {
        let RoleState::Leader(leader) = &mut self.role else {
            return None;
        };
        let configuration = match self.log.last_configuration() {
            Some((_, configuration)) => configuration,
            None => &self.base_configuration,
        };
        Some(LeaderView {
            id: &self.id,
            term: self.term,
            log: &self.log,
            commit_index: self.commit_index,
            configuration,
            options: &self.options,
            leader,
        })
    }
}

impl<N: NodeId> LeaderView<'_, N> {
    /// The leader's progress map follows the configuration in force
    /// (`RaftCore::reconcile_configuration`): a member that joined starts probing at the
    /// end of the log. New voters promised nothing: a lease needs a round of the new
    /// quorum.
    pub(crate) fn reconcile(&mut self) {
        let next_index = self.log.last_index().next();
        self.leader
            .reconcile(self.configuration, self.id, next_index);
        self.leader.reads_mut().drop_lease();
    }

    /// The voter of the configuration in force holding the most of this leader's log,
    /// and how much it holds (ties go to the greatest id). Never this leader: it tracks
    /// no progress of its own. The pick of a transfer without a target, and of the
    /// successor a leader removed by a change hands over to.
    pub(crate) fn voter_holding_most(&self) -> Option<(LogIndex, N)> {
        self.configuration
            .current
            .voters()
            .iter()
            .filter_map(|voter| Some((self.leader.progress(voter)?.match_index, voter)))
            .max()
            .map(|(matched, voter)| (matched, voter.clone()))
    }
}
