//! What only a leader has: the replication progress of every other member, kept in step
//! with the configuration in force (`RaftCore::reconcile_configuration`).

use std::collections::{BTreeMap, BTreeSet};

use super::configuration::{Configuration, ConfigurationEntry};
use super::progress::Progress;
use super::raft::RaftCore;
use super::read::LeaderReads;
use super::types::{LogIndex, NodeId, RequestId};

/// A leader's state: one [`Progress`] per other member (voters and learners) of the
/// configuration in force, and per peer catching up or leaving; the change, transfer
/// and reads in progress. Its fields are private: a handler that needs only the leader's
/// state calls its methods (through `RoleState::leader` / `RoleState::leader_mut`, never
/// by destructuring the role); one that decides from the leader's and the common state
/// at once takes a [`LeaderView`](super::view::LeaderView).
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
    change: Option<PendingChange<N>>,
    /// The leadership transfer in progress, if any.
    transfer: Option<PendingTransfer<N>>,
    /// Reads waiting for a read index, rounds and the lease (`read.rs`).
    reads: Box<LeaderReads<N>>,
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

    /// A check-quorum round starts: no peer has been heard from in it yet.
    pub(crate) fn start_activity_round(&mut self) {
        for progress in self.progress.values_mut() {
            progress.recent_active = false;
        }
    }

    /// The membership change in progress, if any.
    pub(crate) fn change(&self) -> Option<&PendingChange<N>> {
        self.change.as_ref()
    }

    /// Takes on a change to `target`, asked by `id`: its new voters are caught up first
    /// (`start_catch_up`). None may be in progress.
    pub(crate) fn begin_change(&mut self, id: RequestId, target: Configuration<N>) {
        debug_assert!(self.change.is_none(), "a change while one is in progress");
        self.change = Some(PendingChange {
            id,
            target,
            phase: ChangePhase::CatchingUp { rounds: 0 },
        });
    }

    /// The change's first configuration entry (joint, or the final one) is at `index`.
    pub(crate) fn change_appended(&mut self, index: LogIndex) {
        if let Some(change) = &mut self.change {
            change.phase = ChangePhase::Appended { index };
        }
    }

    /// The change's joint entry at `joint` committed and its final one was appended
    /// at `next`: the change now waits for that one.
    pub(crate) fn change_moved_on(&mut self, joint: LogIndex, next: LogIndex) {
        if let Some(change) = &mut self.change {
            if change.phase == (ChangePhase::Appended { index: joint }) {
                change.phase = ChangePhase::Appended { index: next };
            }
        }
    }

    /// The change whose final entry is at or before `committed` is done: returned, to
    /// be answered.
    pub(crate) fn complete_change(&mut self, committed: LogIndex) -> Option<PendingChange<N>> {
        match &self.change {
            Some(PendingChange {
                phase: ChangePhase::Appended { index },
                ..
            }) if *index <= committed => self.change.take(),
            Some(_) | None => None,
        }
    }

    /// One check-quorum round passed for a change catching up its new voters: the
    /// rounds counted before this one (`None` when no change is catching up).
    pub(crate) fn count_catch_up_round(&mut self) -> Option<u32> {
        match &mut self.change {
            Some(PendingChange {
                phase: ChangePhase::CatchingUp { rounds },
                ..
            }) => {
                let before = *rounds;
                *rounds = rounds.saturating_add(1);
                Some(before)
            }
            Some(_) | None => None,
        }
    }

    /// Gives up the change in progress (its new voters stop being caught up): returned,
    /// to be answered.
    pub(crate) fn abandon_change(&mut self) -> Option<PendingChange<N>> {
        self.stop_catch_up();
        self.change.take()
    }

    /// The leadership transfer in progress, if any.
    pub(crate) fn transfer(&self) -> Option<&PendingTransfer<N>> {
        self.transfer.as_ref()
    }

    /// Starts handing leadership to `target` for `rounds` check-quorum rounds, asked
    /// by `id`; the lease is off for the rest of the term (the target may lead before
    /// it runs out). None may be in progress.
    pub(crate) fn begin_transfer(&mut self, id: RequestId, target: N, rounds: u8) {
        debug_assert!(
            self.transfer.is_none(),
            "a transfer while one is in progress"
        );
        self.reads.disable_lease();
        self.transfer = Some(PendingTransfer {
            id,
            target,
            timeout_now_sent: false,
            rounds_left: rounds,
        });
    }

    /// `TimeoutNow` went to the transfer's target.
    pub(crate) fn timeout_now_sent(&mut self) {
        if let Some(transfer) = &mut self.transfer {
            transfer.timeout_now_sent = true;
        }
    }

    /// One check-quorum round passed: the transfer that has run out of rounds, given
    /// up (returned, to be answered).
    pub(crate) fn count_transfer_round(&mut self) -> Option<PendingTransfer<N>> {
        let transfer = self.transfer.as_mut()?;
        transfer.rounds_left = transfer.rounds_left.saturating_sub(1);
        if transfer.rounds_left == 0 {
            self.transfer.take()
        } else {
            None
        }
    }

    /// Leadership ends: the change and the transfer in progress, to be answered.
    pub(crate) fn end(&mut self) -> (Option<PendingChange<N>>, Option<PendingTransfer<N>>) {
        (self.change.take(), self.transfer.take())
    }

    /// The reads waiting on this leader, its rounds and its lease.
    pub(crate) fn reads(&self) -> &LeaderReads<N> {
        &self.reads
    }

    /// The reads, mutably.
    pub(crate) fn reads_mut(&mut self) -> &mut LeaderReads<N> {
        &mut self.reads
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
