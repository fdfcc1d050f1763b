//! A node's published status (F29): what `Node::describe` and friends read, and the
//! flag `Node::apply`'s lock-free fast path reads (leader and not failed).

use std::collections::BTreeSet;

use concord_sync::status;
use serde::{Deserialize, Serialize};

use super::error::NodeFailure;
use crate::core::{
    ConfigurationEntry, LogId, LogIndex, PeerId, ProgressState, RaftCore, Role, Term,
};

/// A node's state as data (F29, braft's `/raft_stat`), cheap to read at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Set when the node is in its error state: why.
    pub failure: Option<NodeFailure>,
}

/// What the driver knows beyond the core.
pub(crate) struct DriverView<'a> {
    pub(crate) applied_index: LogIndex,
    pub(crate) pending_tasks: usize,
    pub(crate) frames_rejected: u64,
    pub(crate) snapshots_installed: u64,
    pub(crate) failure: Option<&'a NodeFailure>,
}

/// Publishes the status (the driver calls it every few events and before it waits),
/// allocating only when the membership view changes: the costly parts are rendered once and kept until they change.
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
    /// The rendered strings (voters, learners, alive peers, leader) changed since they
    /// were last published: compared as one flag, not string by string, every pass.
    strings_changed: bool,
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
            strings_changed: true,
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
            self.strings_changed = true;
        }
        // This runs every few events of the node's loop: the set is first compared in
        // place, and collected (borrowed, sorted) only when it changed.
        if !self.alive_unchanged(core) {
            self.collect_alive(core);
        }
        if core.leader() != self.leader.as_ref() {
            let leader = core.leader().cloned();
            self.leader_string = leader.as_ref().map(|l| l.to_string());
            self.leader = leader;
            self.strings_changed = true;
        }
        let (role, term, last_log_id) = (core.role(), core.term(), core.last_log_id());
        let (persisted_index, commit_index) = (core.persisted_index(), core.commit_index());
        let frames_rejected = driver.frames_rejected + core.dropped_messages();
        let snapshot = core.snapshot().map(|meta| meta.last_included);
        let (configuration_epoch, fenced) = (core.configuration_epoch(), core.is_fenced());
        let this = &*self;
        let published = this.publisher.publish_if_modified(accepting, |current| {
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
                && !this.strings_changed;
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
            current.failure = driver.failure.cloned();
            current.leader.clone_from(&this.leader_string);
            current.voters.clone_from(&this.voters);
            current.learners.clone_from(&this.learners);
            current.alive_peers.clone_from(&this.alive_strings);
            true
        });
        if published {
            self.strings_changed = false;
        }
    }

    /// Whether the alive peers (`RaftCore::alive_peers`: a leader's members heard from
    /// recently, itself included; nobody on other roles) are still `self.alive`,
    /// checked without allocating: every alive peer is in `self.alive` and every place
    /// of it is matched (the core lists each peer once). More than 64 alive peers are
    /// always collected again.
    fn alive_unchanged(&self, core: &RaftCore<PeerId>) -> bool {
        if self.alive.len() > 64 {
            return false;
        }
        let mut matched = 0u64;
        for peer in core.alive_peers() {
            match self.alive.binary_search(peer) {
                Ok(place) => matched |= 1 << place,
                Err(_) => return false,
            }
        }
        matched.count_ones() as usize == self.alive.len()
    }

    /// Collects the alive peers (see `alive_unchanged`) into `self.alive`, sorted.
    fn collect_alive(&mut self, core: &RaftCore<PeerId>) {
        let mut alive: Vec<&PeerId> = core.alive_peers().collect();
        alive.sort_unstable();
        // The core lists each member once: no configuration names a node both voter
        // and learner (every constructor refuses one, deserialization included).
        if !alive.iter().copied().eq(self.alive.iter()) {
            self.alive_strings = alive.iter().map(|p| p.to_string()).collect();
            self.alive = alive.into_iter().cloned().collect();
            self.strings_changed = true;
        }
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

/// A node's state in depth (braft's `/raft_stat` page, F29): the published
/// [`NodeStatus`] plus what only the driver knows — the vote, the log's start, a joint
/// configuration's old half, pending reads, snapshots in progress and, on a leader, one
/// line per replicator. Rendered on request by the node's own task
/// ([`Node::describe_detailed`](crate::runtime::Node::describe_detailed)), so it costs
/// nothing between requests. `Display` gives the text page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescription {
    /// The published status.
    pub status: NodeStatus,
    /// The vote of the current term.
    pub voted_for: Option<String>,
    /// The log's first entry is the one after this (the snapshot's last entry, or 0).
    pub log_start: LogId,
    /// While a joint change runs: the old configuration's voters.
    pub old_voters: Option<Vec<String>>,
    /// Voters of the latest committed configuration.
    pub committed_voters: Vec<String>,
    /// Reads waiting for their ReadIndex round or their leader's answer.
    pub pending_reads: u64,
    /// Messages held until the writes they depend on are durable.
    pub held_messages: usize,
    /// A snapshot being saved (its last entry).
    pub taking_snapshot: Option<LogId>,
    /// A snapshot being installed from the leader (its last entry).
    pub installing_snapshot: Option<LogId>,
    /// The election timeout, in milliseconds (the heartbeat interval is a tenth).
    pub election_timeout_ms: u64,
    /// On a leader: each follower's and learner's replication.
    pub replicators: Vec<ReplicatorStatus>,
}

/// How a leader replicates to one peer (braft's replicator lines).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicatorStatus {
    /// The peer.
    pub peer: String,
    /// `probe`, `probe (waiting)`, `pipeline` or `snapshot <index>`.
    pub state: String,
    /// The next index to send.
    pub next_index: LogIndex,
    /// The highest index known to be on the peer.
    pub match_index: LogIndex,
    /// AppendEntries messages sent and not yet answered.
    pub in_flight: usize,
    /// Their payload bytes.
    pub in_flight_bytes: u64,
    /// Heard from in the current check-quorum round.
    pub recently_active: bool,
}

impl NodeDescription {
    /// Reads it off the core and the published status.
    pub(crate) fn render(
        core: &RaftCore<PeerId>,
        status: NodeStatus,
        election_timeout_ms: u64,
    ) -> Self {
        let strings = |peers: &BTreeSet<PeerId>| -> Vec<String> {
            peers.iter().map(|p| p.to_string()).collect()
        };
        let configuration = core.configuration();
        let replicators = if core.role() == Role::Leader {
            configuration
                .all_members()
                .iter()
                .filter(|peer| *peer != core.id())
                .filter_map(|peer| {
                    core.progress(peer).map(|progress| ReplicatorStatus {
                        peer: peer.to_string(),
                        state: match progress.state() {
                            ProgressState::Probe { paused: false } => "probe".into(),
                            ProgressState::Probe { paused: true } => "probe (waiting)".into(),
                            ProgressState::Pipeline => "pipeline".into(),
                            ProgressState::Snapshot { pending } => format!("snapshot {pending}"),
                        },
                        next_index: progress.next_index(),
                        match_index: progress.match_index(),
                        in_flight: progress.inflights().count(),
                        in_flight_bytes: progress.inflights().bytes(),
                        recently_active: progress.recent_active(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        NodeDescription {
            status,
            voted_for: core.voted_for().map(|p| p.to_string()),
            log_start: core.log_start(),
            old_voters: configuration.old.as_ref().map(|old| strings(old.voters())),
            committed_voters: strings(core.committed_configuration().current.voters()),
            pending_reads: core.pending_reads(),
            held_messages: core.held_messages(),
            taking_snapshot: core.taking_snapshot().map(|meta| meta.last_included),
            installing_snapshot: core.installing_snapshot().map(|meta| meta.last_included),
            election_timeout_ms,
            replicators,
        }
    }
}

impl std::fmt::Display for NodeDescription {
    /// The text page: one `key: value` per line, then the replicators.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.status;
        let none = || "none".to_string();
        let id = |id: Option<LogId>| id.map_or_else(none, |id| id.to_string());
        writeln!(f, "group: {}", s.group)?;
        writeln!(f, "peer_id: {}", s.peer)?;
        writeln!(f, "state: {:?}", s.role)?;
        writeln!(f, "term: {}", s.term.0)?;
        writeln!(f, "leader: {}", s.leader.clone().unwrap_or_else(none))?;
        writeln!(
            f,
            "voted_for: {}",
            self.voted_for.clone().unwrap_or_else(none)
        )?;
        writeln!(f, "voters: {}", s.voters.join(","))?;
        writeln!(f, "learners: {}", s.learners.join(","))?;
        if let Some(old) = &self.old_voters {
            writeln!(f, "joint_old_voters: {}", old.join(","))?;
        }
        writeln!(f, "committed_voters: {}", self.committed_voters.join(","))?;
        writeln!(f, "configuration_epoch: {}", s.configuration_epoch)?;
        writeln!(f, "fenced: {}", s.fenced)?;
        writeln!(f, "alive_peers: {}", s.alive_peers.join(","))?;
        writeln!(f, "log_start: {}", self.log_start)?;
        writeln!(f, "last_log_id: {}", s.last_log_id)?;
        writeln!(f, "persisted_index: {}", s.persisted_index.0)?;
        writeln!(f, "commit_index: {}", s.commit_index.0)?;
        writeln!(f, "applied_index: {}", s.applied_index.0)?;
        writeln!(f, "pending_tasks: {}", s.pending_tasks)?;
        writeln!(f, "pending_reads: {}", self.pending_reads)?;
        writeln!(f, "held_messages: {}", self.held_messages)?;
        writeln!(f, "snapshot: {}", id(s.snapshot))?;
        writeln!(f, "taking_snapshot: {}", id(self.taking_snapshot))?;
        writeln!(f, "installing_snapshot: {}", id(self.installing_snapshot))?;
        writeln!(f, "snapshots_installed: {}", s.snapshots_installed)?;
        writeln!(f, "election_timeout_ms: {}", self.election_timeout_ms)?;
        writeln!(f, "frames_rejected: {}", s.frames_rejected)?;
        match &s.failure {
            Some(failure) => writeln!(f, "failure: {failure}")?,
            None => writeln!(f, "failure: {}", none())?,
        }
        for r in &self.replicators {
            writeln!(
                f,
                "replicator {}: state={} next_index={} match_index={} in_flight={} ({} bytes) active={}",
                r.peer,
                r.state,
                r.next_index.0,
                r.match_index.0,
                r.in_flight,
                r.in_flight_bytes,
                r.recently_active
            )?;
        }
        Ok(())
    }
}
