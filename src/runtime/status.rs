//! A node's published status (F29): what `Node::describe` and friends read, and the
//! flag `Node::apply`'s lock-free fast path reads (leader and not failed).

use std::collections::BTreeSet;

use concord_sync::status;
use serde::Serialize;

use super::error::NodeFailure;
use crate::core::{ConfigurationEntry, LogId, LogIndex, PeerId, RaftCore, Role, Term};

/// A node's state as data (F29, braft's `/raft_stat`), cheap to read at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Group id.
    pub group: String,
    /// This node.
    pub peer: String,
    /// Current role.
    pub role: Role,
    /// Current term.
    pub term: Term,
    /// The leader, if known.
    pub leader: Option<String>,
    /// Voters of the configuration in force.
    pub voters: Vec<String>,
    /// Learners of the configuration in force.
    pub learners: Vec<String>,
    /// The configuration epoch of the configuration in force (0 until an operator
    /// resets the peers, [`Node::reset_peers`](crate::runtime::Node::reset_peers)).
    pub configuration_epoch: u64,
    /// This node heard of a newer configuration epoch than its configuration's (the
    /// peers were reset without it): it never campaigns. Wipe it and add it back as a
    /// new member, or remove it.
    pub fenced: bool,
    /// On a leader: itself and the members heard from in the current check-quorum round.
    pub alive_peers: Vec<String>,
    /// Last log id (durable or not).
    pub last_log_id: LogId,
    /// Highest durable index.
    pub persisted_index: LogIndex,
    /// Highest committed index (durable here).
    pub commit_index: LogIndex,
    /// Highest index applied to the state machine.
    pub applied_index: LogIndex,
    /// Accepted proposals waiting for apply.
    pub pending_tasks: usize,
    /// The last entry the latest durable snapshot covers (the log is compacted up to
    /// it, minus the retained tail); `None` without a snapshot.
    pub snapshot: Option<LogId>,
    /// Snapshots installed from a leader since the node started.
    pub snapshots_installed: u64,
    /// Frames refused without effect: another group or destination (the driver), or
    /// claiming to come from this node, or malformed (the core,
    /// `RaftCore::dropped_messages`). Senders outside the configuration are answered by
    /// the term rules, as Raft's membership changes need (a new server follows the
    /// leader that adds it before it knows the configuration naming it).
    pub frames_rejected: u64,
    /// Set when the node is in its error state.
    pub failure: Option<String>,
}

/// What the driver knows beyond the core.
pub(crate) struct DriverView<'a> {
    pub(crate) applied_index: LogIndex,
    pub(crate) pending_tasks: usize,
    pub(crate) frames_rejected: u64,
    pub(crate) snapshots_installed: u64,
    pub(crate) failure: Option<&'a NodeFailure>,
}

/// Publishes the status after every event, allocating only when the membership view
/// changes: the costly parts are rendered once and kept until they change.
pub(crate) struct StatusPublisher {
    publisher: status::Publisher<NodeStatus>,
    group: String,
    peer: String,
    configuration: Option<ConfigurationEntry<PeerId>>,
    voters: Vec<String>,
    learners: Vec<String>,
    alive: Vec<PeerId>,
    alive_strings: Vec<String>,
    leader: Option<PeerId>,
    leader_string: Option<String>,
}

impl StatusPublisher {
    pub(crate) fn new(
        publisher: status::Publisher<NodeStatus>,
        group: String,
        peer: String,
    ) -> Self {
        StatusPublisher {
            publisher,
            group,
            peer,
            configuration: None,
            voters: Vec::new(),
            learners: Vec::new(),
            alive: Vec::new(),
            alive_strings: Vec::new(),
            leader: None,
            leader_string: None,
        }
    }

    /// Publishes the status if anything in it changed.
    pub(crate) fn publish(&mut self, core: &RaftCore<PeerId>, driver: DriverView<'_>) {
        let accepting = core.role() == Role::Leader && driver.failure.is_none();
        let configuration = core.configuration();
        if self.configuration.as_ref() != Some(configuration) {
            let strings = |peers: &BTreeSet<PeerId>| -> Vec<String> {
                peers.iter().map(|p| p.to_string()).collect()
            };
            self.voters = strings(configuration.current.voters());
            self.learners = strings(configuration.current.learners());
            self.configuration = Some(configuration.clone());
        }
        let alive: Vec<PeerId> = match core.role() {
            Role::Leader => configuration
                .all_members()
                .into_iter()
                .filter(|peer| {
                    peer == core.id() || core.progress(peer).is_some_and(|p| p.recent_active())
                })
                .collect(),
            Role::Follower | Role::PreCandidate | Role::Candidate => Vec::new(),
        };
        if alive != self.alive {
            self.alive_strings = alive.iter().map(|p| p.to_string()).collect();
            self.alive = alive;
        }
        let leader = core.leader().cloned();
        if leader != self.leader {
            self.leader_string = leader.as_ref().map(|l| l.to_string());
            self.leader = leader;
        }
        let (role, term, last_log_id) = (core.role(), core.term(), core.last_log_id());
        let (persisted_index, commit_index) = (core.persisted_index(), core.commit_index());
        let frames_rejected = driver.frames_rejected + core.dropped_messages();
        let snapshot = core.snapshot().map(|meta| meta.last_included);
        let (configuration_epoch, fenced) = (core.configuration_epoch(), core.is_fenced());
        let this = &*self;
        this.publisher.publish_if_modified(accepting, |current| {
            let unchanged = current.role == role
                && current.term == term
                && current.last_log_id == last_log_id
                && current.persisted_index == persisted_index
                && current.commit_index == commit_index
                && current.applied_index == driver.applied_index
                && current.pending_tasks == driver.pending_tasks
                && current.frames_rejected == frames_rejected
                && current.snapshot == snapshot
                && current.snapshots_installed == driver.snapshots_installed
                && current.configuration_epoch == configuration_epoch
                && current.fenced == fenced
                && current.failure.is_some() == driver.failure.is_some()
                && current.leader == this.leader_string
                && current.voters == this.voters
                && current.learners == this.learners
                && current.alive_peers == this.alive_strings;
            if unchanged {
                return false;
            }
            if current.group.is_empty() {
                current.group.clone_from(&this.group);
                current.peer.clone_from(&this.peer);
            }
            current.role = role;
            current.term = term;
            current.last_log_id = last_log_id;
            current.persisted_index = persisted_index;
            current.commit_index = commit_index;
            current.applied_index = driver.applied_index;
            current.pending_tasks = driver.pending_tasks;
            current.frames_rejected = frames_rejected;
            current.snapshot = snapshot;
            current.snapshots_installed = driver.snapshots_installed;
            current.configuration_epoch = configuration_epoch;
            current.fenced = fenced;
            current.failure = driver.failure.map(|f| f.to_string());
            current.leader.clone_from(&this.leader_string);
            current.voters.clone_from(&this.voters);
            current.learners.clone_from(&this.learners);
            current.alive_peers.clone_from(&this.alive_strings);
            true
        });
    }

    /// A stopped node leads nothing: callers holding its handle get `NotLeader`. The
    /// close clears the fast-path flag in the same publication, for good.
    pub(crate) fn close(&self) {
        self.publisher.close(|status| {
            status.role = Role::Follower;
            status.leader = None;
            status.alive_peers.clear();
        });
    }
}
