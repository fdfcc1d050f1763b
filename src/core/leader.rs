//! What only a leader has: the replication progress of every other member, kept in step
//! with the configuration in force (`RaftCore::reconcile_configuration`).

use std::collections::{BTreeMap, BTreeSet};

use super::configuration::{Configuration, ConfigurationEntry};
use super::progress::Progress;
use super::raft::RaftCore;
use super::read::LeaderReads;
use super::types::{LogIndex, NodeId, RequestId};

/// A leader's state: one [`Progress`] per other member (voters and learners) of the
/// configuration in force, and per peer catching up or leaving. Handlers reach it through `RoleState::leader` /
/// `RoleState::leader_mut`, never by destructuring the role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LeaderState<N: NodeId> {
    progress: BTreeMap<N, Progress>,
    /// Payload bytes of the log entries after the commit index. Invariant: equals
    /// their sum (checked in `check_invariants`).
    uncommitted_bytes: u64,
    /// Nodes replicated to that are not members: peers catching up before a change
    /// makes them voters. Invariant: disjoint from the members and from `leaving`.
    catching_up: BTreeSet<N>,
    /// Nodes a configuration entry removed, still replicated to until they hold that
    /// entry (so they learn they were removed and stop campaigning) or stop answering.
    /// Invariant: disjoint from the members.
    leaving: BTreeSet<N>,
    /// The membership change this leader is carrying out, if any.
    pub(crate) change: Option<PendingChange<N>>,
    /// The leadership transfer in progress, if any.
    pub(crate) transfer: Option<PendingTransfer<N>>,
    /// Reads waiting for a read index, rounds and the lease (`read.rs`).
    pub(crate) reads: Box<LeaderReads<N>>,
}

/// A membership change asked of this leader (`Input::ChangeMembership`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PendingChange<N: NodeId> {
    /// Answered with `Action::MembershipChanged`.
    pub(crate) id: RequestId,
    /// The configuration asked for.
    pub(crate) target: Configuration<N>,
    /// Where the change is.
    pub(crate) phase: ChangePhase,
}

/// The phases of a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ChangePhase {
    /// New voters are being brought up to date (they are in `catching_up`); `rounds`
    /// counts the check-quorum rounds seen so far.
    CatchingUp { rounds: u32 },
    /// The configuration entry at `index` (joint, or the final one) is in the log;
    /// the change completes when the final one commits.
    Appended { index: LogIndex },
}

/// A leadership transfer asked of this leader (`Input::TransferLeadership`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PendingTransfer<N: NodeId> {
    /// Answered with `Action::TransferDone`.
    pub(crate) id: RequestId,
    /// The voter that is to lead.
    pub(crate) target: N,
    /// `TimeoutNow` was sent to the target.
    pub(crate) timeout_now_sent: bool,
    /// Check-quorum rounds left before the transfer is given up.
    pub(crate) rounds_left: u8,
}

impl<N: NodeId> LeaderState<N> {
    /// A new leader's state: nothing known of any member yet; `uncommitted_bytes` of
    /// payload in the entries after the commit index.
    pub(crate) fn new(uncommitted_bytes: u64) -> Self {
        LeaderState {
            progress: BTreeMap::new(),
            uncommitted_bytes,
            catching_up: BTreeSet::new(),
            leaving: BTreeSet::new(),
            change: None,
            transfer: None,
            reads: Box::default(),
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

    /// Makes the tracked nodes exactly `configuration`'s members other than `leader`,
    /// plus the peers catching up and the leaving ones: a member that joined starts
    /// probing at `next_index`; one that left becomes leaving (replicated to until it
    /// holds the entry that removed it). Members that stay keep their progress.
    pub(crate) fn reconcile(
        &mut self,
        configuration: &ConfigurationEntry<N>,
        leader: &N,
        next_index: LogIndex,
    ) {
        let members = configuration.all_members();
        for peer in self.progress.keys() {
            if !members.contains(peer) && !self.catching_up.contains(peer) {
                self.leaving.insert(peer.clone());
            }
        }
        self.leaving
            .retain(|peer| peer != leader && !members.contains(peer));
        self.catching_up
            .retain(|peer| peer != leader && !members.contains(peer));
        let (catching_up, leaving) = (&self.catching_up, &self.leaving);
        self.progress.retain(|peer, _| {
            members.contains(peer) || catching_up.contains(peer) || leaving.contains(peer)
        });
        for member in members {
            if member != *leader {
                self.progress
                    .entry(member)
                    .or_insert_with(|| Progress::new(next_index));
            }
        }
    }

    /// Starts replicating to `peers` (not members yet) so they catch up before a
    /// change makes them voters.
    pub(crate) fn start_catch_up(&mut self, peers: &BTreeSet<N>, next_index: LogIndex) {
        for peer in peers {
            self.leaving.remove(peer);
            self.catching_up.insert(peer.clone());
            self.progress
                .entry(peer.clone())
                .or_insert_with(|| Progress::new(next_index));
        }
    }

    /// Replicates to `peers`, removed by a configuration entry not yet committed that
    /// this leader inherited, until they hold it (see `leaving`).
    pub(crate) fn track_leaving(&mut self, peers: &BTreeSet<N>, next_index: LogIndex) {
        for peer in peers {
            if !self.catching_up.contains(peer) {
                self.leaving.insert(peer.clone());
                self.progress
                    .entry(peer.clone())
                    .or_insert_with(|| Progress::new(next_index));
            }
        }
    }

    /// Stops replicating to the peers catching up (the change was given up).
    pub(crate) fn stop_catch_up(&mut self) {
        let catching_up = std::mem::take(&mut self.catching_up);
        self.progress.retain(|peer, _| !catching_up.contains(peer));
    }

    /// The peers catching up.
    pub(crate) fn catching_up(&self) -> &BTreeSet<N> {
        &self.catching_up
    }

    /// The removed nodes still replicated to.
    pub(crate) fn leaving(&self) -> &BTreeSet<N> {
        &self.leaving
    }

    /// Stops replicating to a leaving node.
    pub(crate) fn forget_leaving(&mut self, peer: &N) {
        if self.leaving.remove(peer) {
            self.progress.remove(peer);
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
            catching_up: self.catching_up.iter().map(rename).collect(),
            leaving: self.leaving.iter().map(rename).collect(),
            change: self.change.as_ref().map(|change| PendingChange {
                id: change.id,
                target: change.target.relabel(rename),
                phase: change.phase,
            }),
            transfer: self.transfer.as_ref().map(|transfer| PendingTransfer {
                id: transfer.id,
                target: rename(&transfer.target),
                timeout_now_sent: transfer.timeout_now_sent,
                rounds_left: transfer.rounds_left,
            }),
            reads: Box::new(self.reads.relabel(rename)),
        }
    }
}

impl<N: NodeId> RaftCore<N> {
    /// The members of the configuration in force (both halves of a joint one, each
    /// once) this node, as leader, heard from since its last check-quorum round,
    /// itself included; none when it does not lead (JRaft's `listAlivePeers`, F07). In
    /// configuration order: the current half's members, then the old half's others.
    pub fn alive_peers(&self) -> impl Iterator<Item = &N> + '_ {
        let configuration = self.configuration();
        let current = &configuration.current;
        let members = current.members().chain(
            configuration
                .old
                .iter()
                .flat_map(move |old| old.members().filter(move |peer| !current.contains(peer))),
        );
        let leader = self.role.leader();
        members.filter(move |peer| {
            leader.is_some_and(|leader| {
                **peer == self.id || leader.progress(peer).is_some_and(|p| p.recent_active)
            })
        })
    }
}
