//! Renaming node ids throughout a value (a permutation of the servers).
//!
//! The model checker uses this for symmetry reduction: two cluster states that differ
//! only by which server is called what behave the same, so the checker visits one of
//! them. A rename must be a bijection on the ids it meets; every id-keyed collection is
//! rebuilt, so orders follow the new names. Nothing in the protocol calls this.

use std::collections::BTreeMap;

use super::configuration::ConfigurationEntry;
use super::entry::{EntryKind, EntryMeta};
use super::io::HardState;
use super::message::{AppendRequest, InstallSnapshotRequest, Message};
use super::raft::{RaftCore, RoleState};
use super::types::NodeId;

impl<N: NodeId> ConfigurationEntry<N> {
    /// The same configuration entry with every node renamed.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        ConfigurationEntry {
            current: self.current.relabel(rename),
            old: self.old.as_ref().map(|old| old.relabel(rename)),
        }
    }
}

impl<N: NodeId> EntryMeta<N> {
    /// The same entry with the nodes of a configuration entry renamed.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        let kind = match &self.kind {
            EntryKind::Blank => EntryKind::Blank,
            EntryKind::Normal => EntryKind::Normal,
            EntryKind::Configuration(configuration) => {
                EntryKind::configuration(configuration.relabel(rename))
            }
        };
        EntryMeta {
            log_id: self.log_id,
            kind,
            size_bytes: self.size_bytes,
        }
    }
}

impl<N: NodeId> super::io::ConfigurationReset<N> {
    /// The same reset with the nodes of its configuration renamed.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        super::io::ConfigurationReset {
            epoch: self.epoch,
            configuration: self.configuration.relabel(rename),
        }
    }
}

impl<N: NodeId> HardState<N> {
    /// The same hard state with the vote renamed.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        HardState {
            term: self.term,
            voted_for: self.voted_for.as_ref().map(rename),
            reset: self.reset.as_ref().map(|reset| reset.relabel(rename)),
        }
    }
}

impl<N: NodeId> Message<N> {
    /// The same message with the nodes inside it renamed (only configuration entries
    /// carried by an `Append` name nodes).
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        match self {
            Message::Append(request) => Message::Append(AppendRequest {
                term: request.term,
                prev_log_id: request.prev_log_id,
                entries: request.entries.iter().map(|e| e.relabel(rename)).collect(),
                leader_commit: request.leader_commit,
            }),
            Message::InstallSnapshot(request) => Message::InstallSnapshot(InstallSnapshotRequest {
                term: request.term,
                meta: request.meta.relabel(rename),
            }),
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
            | Message::ReadIndexResponse(_) => self.clone(),
        }
    }
}

impl<N: NodeId> RaftCore<N> {
    /// Whether [`RaftCore::relabel`] with the identity rename returns this core
    /// unchanged. It may not: a relabel also puts the messages held for one write in
    /// order of destination, so that renamed states compare equal. A checker can share
    /// such a core instead of rebuilding it.
    pub fn unchanged_by_identity_relabel(&self) -> bool {
        self.durability.held_in_relabel_order()
    }

    /// The same core with every node id renamed: its own id, its vote, the leader it
    /// follows, the votes or progress it tracks and every configuration it knows.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        let votes = |votes: &BTreeMap<N, bool>| -> BTreeMap<N, bool> {
            votes.iter().map(|(n, v)| (rename(n), *v)).collect()
        };
        let role = match &self.role {
            RoleState::Follower => RoleState::Follower,
            RoleState::PreCandidate { votes: v } => RoleState::PreCandidate { votes: votes(v) },
            RoleState::Candidate { votes: v } => RoleState::Candidate { votes: votes(v) },
            RoleState::Leader(leader) => RoleState::Leader(leader.relabel(rename)),
        };
        assert!(
            self.actions.is_empty() && self.leader_before_step.is_none(),
            "relabel is for states between steps"
        );
        RaftCore {
            id: rename(&self.id),
            options: self.options.clone(),
            term: self.term,
            voted_for: self.voted_for.as_ref().map(rename),
            reset: self.reset.as_ref().map(|reset| reset.relabel(rename)),
            reset_answer: self.reset_answer,
            leader: self.leader.as_ref().map(rename),
            leader_before_step: None,
            role,
            log: self.log.relabel(rename),
            base_configuration: self.base_configuration.relabel(rename),
            base_epoch: self.base_epoch,
            commit_index: self.commit_index,
            commit_known: self.commit_known,
            applied_issued: self.applied_issued,
            applied: self.applied,
            actions: Vec::new(),
            failed: self.failed,
            durability: self.durability.relabel(rename),
            snapshots: self.snapshots.relabel(rename),
            dropped_messages: self.dropped_messages,
            forwarded: self.forwarded.relabel(rename),
            vote_guard: self.vote_guard,
            broken_promise: self.broken_promise.clone(),
        }
    }
}
