//! What only a leader has: the replication progress of every other member, kept in step
//! with the configuration in force (`RaftCore::reconcile_configuration`).

use std::collections::BTreeMap;

use super::configuration::ConfigurationEntry;
use super::progress::Progress;
use super::types::{LogIndex, NodeId};

/// A leader's state: one [`Progress`] per other member (voters and learners) of the
/// configuration in force. Handlers reach it through `RoleState::leader` /
/// `RoleState::leader_mut`, never by destructuring the role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LeaderState<N: NodeId> {
    progress: BTreeMap<N, Progress>,
    /// Payload bytes of the log entries after the commit index. Invariant: equals
    /// their sum (checked in `check_invariants`).
    uncommitted_bytes: u64,
}

impl<N: NodeId> LeaderState<N> {
    /// A new leader's state: nothing known of any member yet; `uncommitted_bytes` of
    /// payload in the entries after the commit index.
    pub(crate) fn new(uncommitted_bytes: u64) -> Self {
        LeaderState {
            progress: BTreeMap::new(),
            uncommitted_bytes,
        }
    }

    /// Payload bytes of the log entries after the commit index.
    pub(crate) fn uncommitted_bytes(&self) -> u64 {
        self.uncommitted_bytes
    }

    /// Entries of `bytes` were appended.
    pub(crate) fn appended(&mut self, bytes: u64) {
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_add(bytes);
    }

    /// Entries of `bytes` were committed.
    pub(crate) fn committed(&mut self, bytes: u64) {
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(bytes);
    }

    /// Makes the tracked members exactly `configuration`'s members other than `leader`:
    /// a member that joined starts probing at `next_index`, one that left is forgotten
    /// (its replication stops). Members that stay keep their progress.
    pub(crate) fn reconcile(
        &mut self,
        configuration: &ConfigurationEntry<N>,
        leader: &N,
        next_index: LogIndex,
    ) {
        let members = configuration.all_members();
        self.progress
            .retain(|peer, _| peer != leader && members.contains(peer));
        for member in members {
            if member != *leader {
                self.progress
                    .entry(member)
                    .or_insert_with(|| Progress::new(next_index));
            }
        }
    }

    /// The members replicated to, in order.
    pub(crate) fn peers(&self) -> Vec<N> {
        self.progress.keys().cloned().collect()
    }

    /// `peer`'s progress, if it is a member replicated to.
    pub(crate) fn progress(&self, peer: &N) -> Option<&Progress> {
        self.progress.get(peer)
    }

    /// `peer`'s progress, mutably.
    pub(crate) fn progress_mut(&mut self, peer: &N) -> Option<&mut Progress> {
        self.progress.get_mut(peer)
    }

    /// Every member's progress, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&N, &Progress)> {
        self.progress.iter()
    }

    /// Every member's progress, mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&N, &mut Progress)> {
        self.progress.iter_mut()
    }

    /// The same state with members renamed (symmetry reduction).
    pub(crate) fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        LeaderState {
            progress: self
                .progress
                .iter()
                .map(|(n, p)| (rename(n), p.clone()))
                .collect(),
            uncommitted_bytes: self.uncommitted_bytes,
        }
    }
}
