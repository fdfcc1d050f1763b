//! Invariants as code (DESIGN.md §2). `RaftCore::check_invariants` states what must hold
//! on one node between steps; `cluster` holds the global properties (Raft Figure 3),
//! shared by the property tests and the model checker. Ids used in messages:
//!
//! - **ES** Election Safety: at most one leader per term.
//! - **LAO** Leader Append-Only: a leader never overwrites or deletes its entries.
//! - **LM** Log Matching: same index and term ⇒ identical logs up to that index.
//! - **LC** Leader Completeness: a committed entry is in the log of every later leader.
//! - **SMS** State Machine Safety: no two nodes apply different entries at one index.
//! - **EC** Electable Completeness: no log that lacks a committed entry could win an
//!   election (checked by [`ClusterObserver::observe_node`], which sees every step).

use std::collections::BTreeMap;

use super::message::{
    AppendRequest, AppendResponse, AppendResult, Heartbeat, InstallSnapshotRequest,
    InstallSnapshotResponse, InstallSnapshotResult, Message, ReadIndexResponse, ReadIndexResult,
    TimeoutNow,
};
use super::progress::ProgressState;
use super::raft::{RaftCore, RoleState};
use super::types::{LogId, LogIndex, NodeId, Term};

/// A broken invariant, with the node and a description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated on {node}: {description}")]
pub struct InvariantViolation {
    /// The node (displayed), or "cluster".
    pub node: String,
    /// What is wrong.
    pub description: String,
}

impl<N: NodeId> RaftCore<N> {
    /// Checks the local invariants. Cheap enough to call after every step in tests and
    /// on every state in the model checker.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check_local()
            .map_err(|description| InvariantViolation {
                node: self.id.to_string(),
                description,
            })
    }

    fn check_local(&self) -> Result<(), String> {
        if let Some(broken) = &self.broken_promise {
            return Err(broken.clone());
        }
        self.log.check_invariants()?;
        self.durability.check_invariants()?;
        let durable = self.durability.durable_hard_state();
        if durable.term > self.term {
            return Err(format!(
                "durable term {} beyond current term {}",
                durable.term, self.term
            ));
        }
        if self.role.leader().is_some() {
            self.log.check_configuration_steps(self.term)?;
        }
        if self.role.leader().is_some()
            && self
                .snapshots
                .installing
                .as_ref()
                .is_some_and(|installing| installing.writing)
        {
            // A candidate's own vote waits behind the install's write, and the install
            // finishes (stepping the candidate down) before held messages are released.
            return Err("leads while a snapshot install is being written".into());
        }
        if self.role.leader().is_some() && !self.configuration().is_voter(&self.id) {
            // Raft dissertation §4.2.2: a leader removed from the voters manages the
            // group until the configuration that removed it is committed, then steps
            // down.
            let committed = self
                .log
                .last_configuration()
                .is_none_or(|(index, _)| index <= self.commit_index);
            if committed {
                return Err(
                    "leads, but is not a voter of its configuration, which is committed".into(),
                );
            }
        }
        if let Some(leader) = self.role.leader() {
            let expected = self
                .log
                .bytes_between(self.commit_index.next(), self.log.last_index());
            if leader.uncommitted_bytes() != expected {
                return Err(format!(
                    "leader counts {} uncommitted bytes, its log holds {expected}",
                    leader.uncommitted_bytes()
                ));
            }
        }
        // A leader counted its own vote only once it was durable, so its term and vote
        // are durable for as long as it leads.
        if self.role.leader().is_some()
            && (durable.term != self.term || durable.voted_for.as_ref() != Some(&self.id))
        {
            return Err(format!(
                "leader of term {} whose durable term and vote are {} / {:?}",
                self.term, durable.term, durable.voted_for
            ));
        }
        if !self.actions.is_empty() {
            return Err("actions left over between steps".into());
        }
        let last = self.log.last_log_id();
        if last.term > self.term {
            return Err(format!(
                "last log term {} is beyond current term {}",
                last.term, self.term
            ));
        }
        if self.is_fenced() && !matches!(self.role, RoleState::Follower) {
            return Err(format!(
                "a node fenced by configuration epoch {} (its configuration is of epoch {}) campaigns or leads",
                self.term.epoch(),
                self.configuration_epoch()
            ));
        }
        if self.failed && (!matches!(self.role, RoleState::Follower) || self.leader.is_some()) {
            return Err("a failed node leads, campaigns or follows a leader".into());
        }
        if self.commit_index < self.log.start().index {
            return Err("commit index below the snapshot".into());
        }
        let snapshot = self.snapshots.index();
        if self.log.start().index > snapshot {
            return Err(format!(
                "log starts after {} but the latest snapshot covers only {snapshot}",
                self.log.start()
            ));
        }
        if snapshot > self.commit_index || snapshot > self.applied_issued {
            return Err(format!(
                "snapshot {snapshot} beyond the commit index {} or what was applied {}",
                self.commit_index, self.applied_issued
            ));
        }
        if let Some(taking) = &self.snapshots.taking {
            if taking.last_included.index > self.applied_issued {
                return Err("a snapshot asked for beyond what was handed out".into());
            }
        }
        if self.commit_index > self.log.persisted() {
            return Err(format!(
                "commit index {} beyond persisted index {}",
                self.commit_index,
                self.log.persisted()
            ));
        }
        if self.commit_index > self.commit_known {
            return Err("commit index beyond known commit".into());
        }
        if self.commit_known > self.log.last_index() {
            return Err(format!(
                "known commit {} beyond last index {}",
                self.commit_known,
                self.log.last_index()
            ));
        }
        if self.applied < self.log.start().index || self.applied > self.applied_issued {
            return Err(format!(
                "applied {} outside [log start, handed out {}]",
                self.applied, self.applied_issued
            ));
        }
        let by_count = self.commit_index.min(LogIndex(
            self.applied.0.saturating_add(self.options.max_apply_ahead),
        ));
        let outstanding = self
            .log
            .bytes_between(self.applied.next(), self.applied_issued);
        if self.applied_issued > by_count
            || (outstanding > self.options.max_apply_ahead_bytes
                && self.applied_issued > self.applied.next())
        {
            return Err(format!(
                "handed out through {} for applying: beyond the bounds (commit {}, applied {}, {outstanding} bytes outstanding)",
                self.applied_issued, self.commit_index, self.applied
            ));
        }
        let handed_out = self.apply_limit();
        if self.applied_issued != handed_out {
            return Err(format!(
                "handed out through {} for applying, expected {} (commit {}, applied {})",
                self.applied_issued, handed_out, self.commit_index, self.applied
            ));
        }
        match &self.role {
            RoleState::Leader(leader) => {
                if self.leader.as_ref() != Some(&self.id) {
                    return Err("a leader must know itself as leader".into());
                }
                if self.voted_for.as_ref() != Some(&self.id) {
                    return Err("a leader must have voted for itself in its term".into());
                }
                if leader.progress(&self.id).is_some() {
                    return Err("a leader tracks progress of itself".into());
                }
                // Reconciled after every change of the configuration in force: the
                // members, plus peers catching up and removed ones still told.
                let members = self.configuration().all_members();
                let (catching_up, leaving) = (leader.catching_up(), leader.leaving());
                if members
                    .iter()
                    .any(|m| catching_up.contains(m) || leaving.contains(m))
                    || catching_up.intersection(leaving).next().is_some()
                {
                    return Err("a member is also catching up or leaving".into());
                }
                let mut tracked = members;
                tracked.extend(catching_up.iter().cloned());
                tracked.extend(leaving.iter().cloned());
                tracked.remove(&self.id);
                if leader.peers() != tracked.into_iter().collect::<Vec<N>>() {
                    return Err(
                        "a leader's progress map differs from the configuration's members".into(),
                    );
                }
                if leader.change().is_some() && leader.transfer().is_some() {
                    return Err("a membership change and a transfer at once".into());
                }
                match leader.change() {
                    Some(change) => match change.phase {
                        super::leader::ChangePhase::CatchingUp { .. } => {
                            if !catching_up.iter().all(|p| change.target.is_voter(p)) {
                                return Err("a peer catches up for no change".into());
                            }
                        }
                        super::leader::ChangePhase::Appended { index } => {
                            if !catching_up.is_empty() {
                                return Err("peers catch up after the change was appended".into());
                            }
                            if !self.log.configuration_at(index).is_some_and(|c| {
                                self.log
                                    .last_configuration()
                                    .is_some_and(|(i, _)| i == index)
                                    && (c.current == change.target)
                            }) {
                                return Err("a change's entry is not in the log".into());
                            }
                        }
                    },
                    None => {
                        if !catching_up.is_empty() {
                            return Err("a peer catches up for no change".into());
                        }
                    }
                }
                if let Some(transfer) = leader.transfer() {
                    if transfer.target == self.id {
                        return Err("a leader transfers to itself".into());
                    }
                }
                for (peer, p) in leader.iter() {
                    if p.match_index >= p.next_index {
                        return Err(format!(
                            "{peer}: match {} >= next {}",
                            p.match_index, p.next_index
                        ));
                    }
                    if p.next_index > self.log.last_index().next() {
                        return Err(format!("{peer}: next {} beyond last + 1", p.next_index));
                    }
                    if matches!(p.state, ProgressState::Pipeline) {
                        p.inflights.check_invariants(p.match_index)?;
                        if p.inflights.count() > self.options.max_inflight_messages {
                            return Err(format!("{peer}: in-flight window overflow"));
                        }
                    } else if p.inflights.count() != 0 {
                        return Err(format!("{peer}: probe with messages in flight"));
                    }
                }
            }
            RoleState::Candidate { votes } => {
                if self.voted_for.as_ref() != Some(&self.id) {
                    return Err("a candidate must have voted for itself".into());
                }
                if self.leader.is_some() {
                    return Err("a candidate knows no leader".into());
                }
                self.check_votes_from_voters(votes)?;
            }
            RoleState::PreCandidate { votes } => {
                if self.leader.is_some() {
                    return Err("a pre-candidate knows no leader".into());
                }
                self.check_votes_from_voters(votes)?;
            }
            RoleState::Follower => {
                if self.leader.as_ref() == Some(&self.id) {
                    return Err("a follower names itself leader".into());
                }
            }
        }
        Ok(())
    }

    /// Records the first broken promise (`check_promise`) among the messages this node
    /// emits, for `check_invariants` to report (`RaftCore::send` calls it on each).
    pub(crate) fn note_promise(&mut self, to: &N, message: &Message<N>) {
        if self.broken_promise.is_none() {
            self.broken_promise = self.check_promise(to, message).err();
        }
    }

    /// Durable promises (Raft Figure 2: persistent state is "updated on stable storage
    /// before responding to RPCs"). A message its receiver counts on — a granted vote, a
    /// candidate's vote request, anything a leader sends, an acknowledgement of entries
    /// or of a snapshot, an answer to a heartbeat round (which may confirm a lease) —
    /// leaves only in a term this node has made durable, and a vote (the candidate's
    /// own, or one granted) only once the vote itself is: else a crash could bring the
    /// node back unaware of what it promised, free to vote again or to help elect a
    /// leader while a lease it confirmed still runs. Checked on every message as it is
    /// emitted (`RaftCore::send`), so the model, the property tests and the chaos suite
    /// (which runs the real runtime with `check_invariants` on) all see a breach at the
    /// step that commits it, whatever its consequences later. Refusals, pre-votes and
    /// read-index requests promise nothing: a refusal in a term not yet durable only
    /// tells its receiver of a newer term.
    pub(crate) fn check_promise(&self, to: &N, message: &Message<N>) -> Result<(), String> {
        let durable = self.durability.durable_hard_state();
        let (term, voter) = match message {
            Message::VoteResponse(m) if m.granted => (m.term, Some(to)),
            Message::Vote(m) => (m.term, Some(&self.id)),
            Message::HeartbeatResponse(m) if m.round > 0 => (m.term, None),
            Message::AppendResponse(AppendResponse {
                term,
                result: AppendResult::Success { .. },
            })
            | Message::InstallSnapshotResponse(InstallSnapshotResponse {
                term,
                result: InstallSnapshotResult::Installed { .. },
            }) => (*term, None),
            Message::Append(AppendRequest { term, .. })
            | Message::Heartbeat(Heartbeat { term, .. })
            | Message::InstallSnapshot(InstallSnapshotRequest { term, .. })
            | Message::TimeoutNow(TimeoutNow { term, .. })
            | Message::ReadIndexResponse(ReadIndexResponse {
                term,
                result: ReadIndexResult::Ready(_),
                ..
            }) => (*term, None),
            Message::VoteResponse(_)
            | Message::HeartbeatResponse(_)
            | Message::AppendResponse(_)
            | Message::InstallSnapshotResponse(_)
            | Message::ReadIndexResponse(_)
            | Message::PreVote(_)
            | Message::PreVoteResponse(_)
            | Message::ReadIndex(_) => return Ok(()),
        };
        let kept = match voter {
            // A later durable term makes the message stale, not a broken promise.
            Some(voter) => {
                durable.term > term
                    || (durable.term == term && durable.voted_for.as_ref() == Some(voter))
            }
            None => durable.term >= term,
        };
        if kept {
            Ok(())
        } else {
            Err(format!(
                "durable promises: sent {} to {to} in term {term}{} while its durable term is {} (vote {:?})",
                message.kind_name(),
                if voter.is_some() { " with a vote" } else { "" },
                durable.term,
                durable.voted_for,
            ))
        }
    }

    fn check_votes_from_voters(&self, votes: &BTreeMap<N, bool>) -> Result<(), String> {
        let configuration = self.configuration();
        match votes.keys().find(|voter| !configuration.is_voter(voter)) {
            Some(stranger) => Err(format!("vote recorded from non-voter {stranger}")),
            None => Ok(()),
        }
    }
}

/// Global properties over a set of nodes, with memory across steps (leaders seen per
/// term, entries seen committed). Feed it every state the cluster passes through.
#[derive(Clone, Debug)]
pub struct ClusterObserver<N: NodeId> {
    /// The leader seen for each term (ES).
    leaders: BTreeMap<Term, N>,
    /// Every entry ever seen committed on some node, by the configuration epoch of
    /// that node and index, with the term of the node that first reported it committed
    /// (LC, SMS). A reset of the peers (`Input::ResetPeers`) starts a new history that
    /// need not hold what the old configuration's members committed (the reset
    /// survivors may lack it); within an epoch, every rule holds as always, and the
    /// leaders of an epoch must hold everything committed by nodes of that epoch — a
    /// member of the old configuration that got past the fence would lack it.
    committed: BTreeMap<(u64, LogIndex), (LogId, Term)>,
    /// What each node seen last could campaign with and would judge a candidate by
    /// (EC).
    electors: BTreeMap<N, Elector>,
    /// Some node was seen in a configuration epoch past the first or a term of one (a
    /// reset of the peers happened): CD is off from then on.
    reset_seen: bool,
    /// The highest index each peer acknowledged to the leader of each term, as seen in
    /// that leader's progress (CD).
    acked: BTreeMap<(Term, N), LogIndex>,
}

/// One node as a voter and a candidate, as last seen (EC).
#[derive(Clone, Copy, Debug)]
struct Elector {
    /// The id of its highest durable entry: a lower bound of whatever log it judges a
    /// candidate by, now or after a crash (a truncation lowers it first).
    durable: LogId,
    /// Its configuration epoch.
    epoch: u64,
}

impl<N: NodeId> Default for ClusterObserver<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: NodeId> ClusterObserver<N> {
    /// A fresh observer.
    pub fn new() -> Self {
        ClusterObserver {
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            electors: BTreeMap::new(),
            reset_seen: false,
            acked: BTreeMap::new(),
        }
    }

    /// Records `log_id` as committed by a leader of `term` (configuration epoch 0, the
    /// first configuration's), as if some node had been seen committing it. For
    /// harnesses that start a cluster from a history they built instead of observed:
    /// its committed entries are known although no live node remembers committing them
    /// (a commit index is volatile), and every later leader must hold them (LC) and no
    /// node may commit another entry at their indexes (SMS).
    pub fn assume_committed(&mut self, log_id: LogId, term: Term) {
        self.committed
            .entry((0, log_id.index))
            .or_insert((log_id, term));
    }

    /// How many entries have been seen committed.
    pub fn committed_count(&self) -> usize {
        self.committed.len()
    }

    /// The highest term in which a leader was seen.
    pub fn leaders_seen(&self) -> usize {
        self.leaders.len()
    }

    /// Checks ES, LM, LC and SMS on the live nodes' current states and records what it
    /// saw. Crashed nodes must be left out (their volatile state is gone). EC is left to
    /// [`observe_node`](Self::observe_node): a harness that observes between batches of
    /// steps has durable logs it has not seen, and checks EC on its disks instead (the
    /// test cluster's `check_durable_properties`, the model's property).
    pub fn observe<'a>(
        &mut self,
        nodes: impl IntoIterator<Item = &'a RaftCore<N>> + Clone,
    ) -> Result<(), InvariantViolation> {
        for node in nodes.clone() {
            node.check_invariants()?;
            self.observe_one(node)?;
        }
        // LM: any two logs that share an entry share the whole prefix.
        let all: Vec<&RaftCore<N>> = nodes.into_iter().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                check_log_matching(a, b).map_err(cluster_violation)?;
            }
        }
        Ok(())
    }

    /// Checks ES, LC, SMS and EC on one node's current state against everything seen
    /// before, and records what it saw: for executors that see one node at a time (the
    /// chaos suite observes each node of the real runtime after every step). EC needs
    /// exactly that — every step of every node observed — since it judges candidates by
    /// each voter's durable log as last seen. Log Matching needs two logs at once and is
    /// left to [`observe`](Self::observe); the node's own invariants to
    /// [`RaftCore::check_invariants`].
    pub fn observe_node(&mut self, node: &RaftCore<N>) -> Result<(), InvariantViolation> {
        self.observe_one(node)?;
        self.check_electable(node)?;
        self.check_committed_durable(node)
    }

    /// ES, LC and SMS on one node, recording what it saw.
    fn observe_one(&mut self, node: &RaftCore<N>) -> Result<(), InvariantViolation> {
        let violation = cluster_violation;
        if node.is_leader() {
            match self.leaders.get(&node.term()) {
                Some(other) if other != node.id() => {
                    return Err(violation(format!(
                        "ES: two leaders in term {}: {} and {}",
                        node.term(),
                        other,
                        node.id()
                    )))
                }
                _ => {
                    self.leaders.insert(node.term(), node.id().clone());
                }
            }
            // LC: an entry committed as of term T is in the log of every leader of a
            // later term. (A deposed leader of an older term may still think it leads.)
            let epoch = node.term().epoch();
            let from = (epoch, LogIndex(0));
            let to = (epoch, LogIndex(u64::MAX));
            for ((_, index), (log_id, committed_in)) in self.committed.range(from..=to) {
                if node.term() > *committed_in
                    && *index > node.log_start().index
                    && node.term_at(*index) != Some(log_id.term)
                {
                    return Err(violation(format!(
                        "LC: leader {} of term {} lacks committed entry {}",
                        node.id(),
                        node.term(),
                        log_id
                    )));
                }
            }
        }
        // SMS: what a node has committed agrees with everything committed before (by
        // nodes of its configuration epoch). A fenced node's commit index mixes its old
        // configuration's commits with ones a leader of the new epoch told it before its
        // configuration entry arrived: it is compared once it is unfenced.
        if node.is_fenced() {
            return Ok(());
        }
        let epoch = node.configuration_epoch();
        let start = node.log_start().index;
        let mut index = node.commit_index();
        while index > start {
            let Some(term) = node.term_at(index) else {
                break;
            };
            let log_id = LogId { term, index };
            match self.committed.get(&(epoch, index)) {
                Some((seen, _)) if *seen != log_id => {
                    return Err(violation(format!(
                        "SMS: {} committed {} where {} was committed before",
                        node.id(),
                        log_id,
                        seen
                    )))
                }
                Some(_) => break, // earlier indexes were checked when first recorded
                None => {
                    self.committed.insert((epoch, index), (log_id, node.term()));
                }
            }
            index = index.prev();
        }
        Ok(())
    }

    /// EC, Electable Completeness (the model's "no electable log lacks a committed
    /// entry"): a node whose log lacks the latest entry seen committed in its epoch must
    /// not be electable — its last log id must not be at least as up to date as the
    /// logs of a quorum of its configuration's voters (of each configuration, while a
    /// change is joint). Voters are taken at their most permissive: each judges by its
    /// highest durable entry, as after a crash. Stronger than LC, which waits for such a
    /// node to win: this fails the moment an entry is counted committed that a quorum
    /// could still elect past — a leader that commits an entry of an older term by
    /// counting replicas (Raft §5.4.2, Figure 8) while a log of a newer term that lacks
    /// it exists. Raft guarantees it: a committed entry sits, with an entry of its
    /// leader's term after it, on the durable logs of a quorum, and a log at least as up
    /// to date as one of those holds it (Log Matching, LC). Voters not seen yet are not
    /// counted (fewer voters, fewer false alarms); fenced, failed and non-voting nodes
    /// never campaign and are not checked as candidates.
    fn check_electable(&mut self, node: &RaftCore<N>) -> Result<(), InvariantViolation> {
        let epoch = node.configuration_epoch();
        let start = node.log_start();
        let last = node.last_log_id();
        let durable_index = node.persisted_index().min(last.index);
        let durable = match node.term_at(durable_index) {
            Some(term) if durable_index > start.index => LogId {
                term,
                index: durable_index,
            },
            _ => start,
        };
        self.electors
            .insert(node.id().clone(), Elector { durable, epoch });
        let configuration = node.configuration();
        if node.is_fenced() || node.is_failed() || !configuration.is_voter(node.id()) {
            return Ok(());
        }
        let top = self
            .committed
            .range((epoch, LogIndex(0))..=(epoch, LogIndex(u64::MAX)))
            .next_back();
        let Some((&(_, index), &(log_id, _))) = top else {
            return Ok(());
        };
        if index <= start.index || node.term_at(index) == Some(log_id.term) {
            return Ok(());
        }
        let quorum_grants = |voters: &std::collections::BTreeSet<N>| {
            let granting = voters
                .iter()
                .filter(|voter| {
                    self.electors
                        .get(*voter)
                        .is_some_and(|e| e.epoch == epoch && e.durable <= last)
                })
                .count();
            granting * 2 > voters.len()
        };
        let electable = quorum_grants(configuration.current.voters())
            && configuration
                .old
                .as_ref()
                .is_none_or(|old| quorum_grants(old.voters()));
        if electable {
            let judges: Vec<String> = configuration
                .current
                .voters()
                .iter()
                .filter_map(|voter| {
                    self.electors
                        .get(voter)
                        .map(|e| format!("{voter} durable {}", e.durable))
                })
                .collect();
            return Err(cluster_violation(format!(
                "EC: {} (last {}) lacks committed entry {} and is electable: the voters' durable logs are no more up to date ({})",
                node.id(),
                last,
                log_id,
                judges.join(", ")
            )));
        }
        Ok(())
    }
}

impl<N: NodeId> ClusterObserver<N> {
    /// CD: whatever a node counts committed is durable on a quorum — a majority of the
    /// voters of the configuration that committed it — judging by each voter's highest
    /// durable index as last seen (the entry there is not compared: this errs towards
    /// silence). That configuration is the one in force at the commit index, or the new
    /// half of it if it is joint: every voter change goes through a joint entry, which
    /// commits on majorities of both halves before the final one is appended, so an
    /// entry before a joint entry is durable on a majority of the old configuration, and
    /// one after it on a majority of the new (committed either by both majorities or by
    /// the new one alone). A voter also counts as holding the entry if it acknowledged
    /// it to the leader of the entry's term (see below). The model's `committed entries
    /// are durable on a quorum` on the
    /// real runtime; it fails at the step that counts an entry committed too early — a
    /// follower that takes an installed snapshot's kept suffix as committed (teeth
    /// variant `install-commits-kept-suffix`), say — whether or not a later leader ever
    /// overwrites it. Entries a snapshot covers are not checked; nor is anything once a
    /// reset of the peers was seen (it gives up what the old configuration committed, by
    /// design); nor a commit while some voter of its configuration was never seen.
    fn check_committed_durable(&mut self, node: &RaftCore<N>) -> Result<(), InvariantViolation> {
        self.reset_seen |= node.configuration_epoch() != 0 || node.term().epoch() != 0;
        if let Some(leader) = node.role.leader() {
            for (peer, progress) in leader.iter() {
                let acked = self
                    .acked
                    .entry((node.term(), peer.clone()))
                    .or_insert(LogIndex(0));
                *acked = (*acked).max(progress.match_index);
            }
            // Bounded: the acknowledgements of the latest terms only.
            while self.acked.len() > 1024 {
                self.acked.pop_first();
            }
        }
        let commit = node.commit_index();
        if self.reset_seen || commit <= node.log_start().index {
            return Ok(());
        }
        let Some(entry_term) = node.term_at(commit) else {
            return Ok(());
        };
        let voters = node.configuration_at(commit).current.voters();
        // Judged only once every voter has been seen: a harness that observes some
        // nodes only (or not yet) has durable logs it does not know of.
        let Some(durable) = voters
            .iter()
            .map(|voter| self.electors.get(voter).map(|e| e.durable))
            .collect::<Option<Vec<LogId>>>()
        else {
            return Ok(());
        };
        // A voter holds the entry if its durable log reaches it, or if it acknowledged
        // it to the leader that wrote it (the entry's term's leader): an acknowledgement
        // leaves only once what it covers is durable, while the durable index a core
        // reports can lag — a write from before a truncation that becomes durable after
        // it is not credited, though its acknowledgement is released.
        let holders = voters
            .iter()
            .zip(&durable)
            .filter(|(voter, durable)| {
                durable.index >= commit
                    || self
                        .acked
                        .get(&(entry_term, (*voter).clone()))
                        .is_some_and(|acked| *acked >= commit)
            })
            .count();
        if voters.is_empty() || holders * 2 > voters.len() {
            return Ok(());
        }
        let seen: Vec<String> = voters
            .iter()
            .zip(&durable)
            .map(|(voter, durable)| format!("{voter} durable {durable}"))
            .collect();
        Err(cluster_violation(format!(
            "CD: {} counts {} committed, durable on {} of the {} voters ({})",
            node.id(),
            commit,
            holders,
            voters.len(),
            seen.join(", ")
        )))
    }
}

fn cluster_violation(description: String) -> InvariantViolation {
    InvariantViolation {
        node: "cluster".into(),
        description,
    }
}

/// LM on two nodes: find the highest index where both logs hold the same term; below
/// it, every index held by both must agree.
pub fn check_log_matching<N: NodeId>(a: &RaftCore<N>, b: &RaftCore<N>) -> Result<(), String> {
    let low = a.log_start().index.max(b.log_start().index);
    let high = a.last_log_id().index.min(b.last_log_id().index);
    let mut shared_top = high;
    while shared_top > low && a.term_at(shared_top) != b.term_at(shared_top) {
        shared_top = shared_top.prev();
    }
    let mut below = shared_top;
    while below > low {
        if a.term_at(below) != b.term_at(below) {
            return Err(format!(
                "LM: {} and {} agree at {} but differ at {}",
                a.id(),
                b.id(),
                shared_top,
                below
            ));
        }
        below = below.prev();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::core::*;

    /// A fresh follower 1 of {1, 2, 3} that heard term 2's first heartbeat from 2: the
    /// term is adopted and its write issued, not yet durable.
    fn follower_in_a_new_term() -> (RaftCore<u64>, PersistSeq) {
        let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
        let mut core = RaftCore::new(1, CoreOptions::default(), Restored::empty(configuration))
            .expect("a fresh core");
        core.start();
        let heartbeat = Heartbeat {
            term: Term(2),
            commit: LogIndex(0),
            round: 1,
        };
        let actions = core.step(Input::Message {
            from: 2,
            message: Message::Heartbeat(heartbeat),
        });
        let seq = actions
            .iter()
            .find_map(|action| match action {
                Action::SaveHardState { seq, .. } => Some(*seq),
                _ => None,
            })
            .expect("the new term is written");
        // The correct core held its answer: nothing broken.
        assert!(!actions
            .iter()
            .any(|action| matches!(action, Action::Send { .. })));
        assert_eq!(core.check_invariants(), Ok(()));
        (core, seq)
    }

    fn heartbeat_answer(round: u64) -> Message<u64> {
        Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(2),
            round,
            lease_cover: 0,
        })
    }

    fn granted(term: u64) -> Message<u64> {
        Message::VoteResponse(VoteResponse {
            term: Term(term),
            granted: true,
        })
    }

    #[test]
    fn a_promise_needs_its_term_durable_and_a_vote_its_vote() {
        let (mut core, seq) = follower_in_a_new_term();
        let success = Message::AppendResponse(AppendResponse {
            term: Term(2),
            result: AppendResult::Success {
                last_matched: LogIndex(0),
            },
        });
        let conflict = Message::AppendResponse(AppendResponse {
            term: Term(2),
            result: AppendResult::Conflict {
                rejected_prev: LogIndex(3),
                hint: LogId::default(),
            },
        });
        // Term 2 is not durable: every promise in it is broken; refusals are not.
        for promise in [heartbeat_answer(1), success.clone(), granted(2)] {
            let broken = core.check_promise(&2, &promise).expect_err("not durable");
            assert!(broken.starts_with("durable promises: "), "{broken}");
        }
        for refusal in [heartbeat_answer(0), conflict] {
            assert_eq!(core.check_promise(&2, &refusal), Ok(()));
        }
        // Durable: the term's promises are kept; a vote also needs the vote.
        core.step(Input::Persisted { seq });
        assert_eq!(core.check_promise(&2, &heartbeat_answer(1)), Ok(()));
        assert_eq!(core.check_promise(&2, &success), Ok(()));
        assert!(core.check_promise(&2, &granted(2)).is_err(), "no vote cast");
        // A stale grant (an older term) is not a broken promise.
        assert_eq!(core.check_promise(&2, &granted(1)), Ok(()));
        let request = Message::Vote(VoteRequest {
            term: Term(2),
            last_log_id: LogId::default(),
            leadership_transfer: false,
        });
        assert!(
            core.check_promise(&3, &request).is_err(),
            "no vote for itself"
        );
        assert_eq!(core.check_invariants(), Ok(()));
    }

    #[test]
    fn a_broken_promise_is_reported_by_check_invariants() {
        let (mut core, seq) = follower_in_a_new_term();
        // What the `heartbeat-answer-before-durable-term` bug does: answer at once.
        core.send(2, heartbeat_answer(1));
        core.actions.clear();
        let violation = core.check_invariants().expect_err("reported");
        assert!(
            violation.description.contains("HeartbeatResponse"),
            "{violation}"
        );
        // Kept: later steps do not clear it.
        core.step(Input::Persisted { seq });
        assert!(core.check_invariants().is_err());
    }
}
