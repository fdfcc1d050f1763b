//! Elections: pre-vote (F23), RequestVote with the up-to-date check (Raft §5.2, §5.4.1),
//! lease-protected votes (F24) and check-quorum (F25).

use std::collections::BTreeMap;

use super::entry::{EntryKind, EntryMeta};
use super::io::{Action, Timer};
use super::leader::LeaderState;
use super::message::{Message, VoteRequest, VoteResponse};
use super::quorum::{joint_active, joint_vote, VoteResult};
use super::raft::{RaftCore, RoleState};
use super::types::NodeId;
use super::view::LeaderView;

impl<N: NodeId> RaftCore<N> {
    pub(crate) fn handle_election_timeout(&mut self) {
        // A whole election timeout since start: a lease granted before a restart is over.
        self.vote_guard = false;
        if self.is_leader() {
            self.check_quorum();
            return;
        }
        // No word from a leader for a whole election timeout: it is presumed dead.
        self.set_leader(None);
        if !self.configuration().is_voter(&self.id) {
            return; // learners and removed nodes never campaign
        }
        if self.is_fenced() {
            // The peers were reset into a newer configuration epoch than ours: our
            // configuration is the old one, and must not elect anyone (reset.rs).
            return;
        }
        if self.term.next() == self.term {
            // The last term there is (only a hostile peer gets a node here): a campaign
            // could not move to a new term and would vote a second time in this one.
            self.push(Action::ResetTimer(Timer::Election));
            return;
        }
        if self.options.pre_vote {
            self.become_pre_candidate();
        } else {
            self.become_candidate(false);
        }
    }

    /// F25: a leader that has not heard from a quorum within an election timeout steps
    /// down, so clients stop waiting on a leader that cannot commit.
    fn check_quorum(&mut self) {
        // Membership and transfer deadlines count in these rounds too.
        self.membership_round();
        if !self.is_leader() {
            return;
        }
        if self.options.check_quorum {
            let Some(view) = self.leader_view() else {
                return;
            };
            if !view.quorum_active() {
                let term = self.term;
                self.become_follower(term, None);
                return;
            }
        }
        if let Some(leader) = self.role.leader_mut() {
            leader.start_activity_round();
        }
        self.push(Action::ResetTimer(Timer::Election));
    }

    fn become_pre_candidate(&mut self) {
        let mut votes = BTreeMap::new();
        votes.insert(self.id.clone(), true);
        self.role = RoleState::PreCandidate { votes };
        self.set_leader(None);
        let request = VoteRequest {
            term: self.term.next(),
            last_log_id: self.log.last_log_id(),
            leadership_transfer: false,
        };
        for voter in self.other_voters() {
            self.send(voter, Message::PreVote(request));
        }
        self.push(Action::ResetTimer(Timer::Election));
        self.maybe_win_pre_vote();
    }

    /// Campaigns in the next term. `leadership_transfer`: the leader handed over
    /// (`TimeoutNow`), so voters grant the vote despite hearing from that leader.
    pub(crate) fn become_candidate(&mut self, leadership_transfer: bool) {
        if self.term.next() == self.term {
            // No term left to campaign in (see `handle_election_timeout`).
            let term = self.term;
            self.become_follower(term, None);
            return;
        }
        self.term = self.term.next();
        self.voted_for = Some(self.id.clone());
        self.set_leader(None);
        self.role = RoleState::Candidate {
            votes: BTreeMap::new(),
        };
        self.save_hard_state();
        let request = VoteRequest {
            term: self.term,
            last_log_id: self.log.last_log_id(),
            leadership_transfer,
        };
        // The requests wait for the new term and our vote to be durable. Sent at once, a
        // candidate that crashes before the write lands restarts in the old term, may
        // campaign for the same term again with a shorter log (its unsynced tail is
        // gone), and count a vote granted to its earlier request, which advertised the
        // longer log: a leader missing a committed entry (found by the model's `deep`
        // simulation; the teeth patch `vote-request-before-durable` puts the bug back).
        for voter in self.other_voters() {
            self.send_after_persist(voter, Message::Vote(request));
        }
        // Our own vote counts only once it is durable: the core delivers it to itself.
        let own_vote = Message::VoteResponse(VoteResponse {
            term: self.term,
            granted: true,
        });
        self.send_after_persist(self.id.clone(), own_vote);
        self.push(Action::ResetTimer(Timer::Election));
    }

    pub(crate) fn become_leader(&mut self) {
        let next_index = self.log.last_index().next();
        let uncommitted = self
            .log
            .bytes_between(self.commit_index.next(), self.log.last_index());
        self.role = RoleState::Leader(LeaderState::new(uncommitted));
        self.reconcile_configuration();
        self.track_inherited_removals(next_index);
        self.set_leader(Some(self.id.clone()));
        // Raft §5.4.2/§8: entries of earlier terms commit only through an entry of this
        // term, so append one at once. If the log has never recorded a configuration,
        // that entry records it (as JRaft's leaders do), making it durable and
        // replicated to every member.
        let kind = match self.log.last_configuration() {
            Some(_) => EntryKind::Blank,
            None => EntryKind::configuration(self.base_configuration.clone()),
        };
        let entry = EntryMeta {
            log_id: super::types::LogId {
                term: self.term,
                index: next_index,
            },
            kind,
            size_bytes: 0,
        };
        self.log.push(&entry);
        self.reconcile_configuration();
        self.append_log(vec![entry]);
        self.push(Action::ResetTimer(Timer::Heartbeat));
        self.push(Action::ResetTimer(Timer::Election));
        self.broadcast_append();
    }

    /// A new leader whose last configuration entry is not committed yet (a change its
    /// predecessor started) keeps telling the members that entry removed, until they
    /// hold it: otherwise a removed node that missed it campaigns on forever.
    fn track_inherited_removals(&mut self, next_index: super::types::LogIndex) {
        let Some((index, _)) = self.log.last_configuration() else {
            return;
        };
        if index <= self.commit_index {
            return;
        }
        let members = self.configuration().all_members();
        let removed: std::collections::BTreeSet<N> = self
            .configuration_at(index.prev())
            .all_members()
            .into_iter()
            .filter(|peer| *peer != self.id && !members.contains(peer))
            .collect();
        if let Some(leader) = self.role.leader_mut() {
            leader.track_leaving(&removed, next_index);
        }
    }

    fn other_voters(&self) -> Vec<N> {
        let configuration = self.configuration();
        let mut voters: Vec<N> = configuration.current.voters().iter().cloned().collect();
        if let Some(old) = &configuration.old {
            voters.extend(old.voters().iter().cloned());
        }
        voters.sort();
        voters.dedup();
        voters.retain(|voter| *voter != self.id);
        voters
    }

    fn candidate_log_is_up_to_date(&self, request: &VoteRequest) -> bool {
        // LogId orders by term, then index: Raft §5.4.1's comparison.
        request.last_log_id >= self.log.last_log_id()
    }

    pub(crate) fn handle_pre_vote_request(&mut self, from: N, request: VoteRequest) {
        if self.leader.is_some() || self.vote_guard {
            return; // F24: we hear from a live leader; do not help unseat it.
        }
        let can_vote = self.voted_for.as_ref() == Some(&from)
            || self.voted_for.is_none()
            || request.term > self.term;
        let granted = can_vote && self.candidate_log_is_up_to_date(&request);
        let response = if granted {
            VoteResponse {
                term: request.term,
                granted: true,
            }
        } else {
            VoteResponse {
                term: self.term,
                granted: false,
            }
        };
        self.send(from, Message::PreVoteResponse(response));
    }

    pub(crate) fn handle_vote_request(&mut self, from: N, request: VoteRequest) {
        // Here request.term == self.term (higher terms were adopted by the dispatcher).
        let can_vote = self.voted_for.as_ref() == Some(&from)
            || (self.voted_for.is_none()
                && ((self.leader.is_none() && !self.vote_guard) || request.leadership_transfer));
        let granted = can_vote && self.candidate_log_is_up_to_date(&request);
        if granted {
            if self.voted_for.is_none() {
                self.voted_for = Some(from.clone());
                self.save_hard_state();
            }
            self.push(Action::ResetTimer(Timer::Election));
            // A granted vote must be durable before the candidate can count it.
            let response = VoteResponse {
                term: self.term,
                granted: true,
            };
            self.send_after_persist(from, Message::VoteResponse(response));
        } else {
            let response = VoteResponse {
                term: self.term,
                granted: false,
            };
            self.send(from, Message::VoteResponse(response));
        }
    }

    pub(crate) fn handle_pre_vote_response(&mut self, from: N, response: VoteResponse) {
        let expected_term = if response.granted {
            self.term.next() // granted answers carry the proposed term
        } else {
            self.term // refusals carry the voter's term; higher ones were handled already
        };
        if response.term != expected_term || !self.configuration().is_voter(&from) {
            return; // an answer to an earlier round, or from a node that has no vote
        }
        let RoleState::PreCandidate { votes } = &mut self.role else {
            return;
        };
        votes.insert(from, response.granted);
        match self.count_votes() {
            VoteResult::Won => self.become_candidate(false),
            VoteResult::Lost => {
                let term = self.term;
                self.become_follower(term, None);
            }
            VoteResult::Pending => {}
        }
    }

    fn maybe_win_pre_vote(&mut self) {
        if self.count_votes() == VoteResult::Won {
            self.become_candidate(false);
        }
    }

    pub(crate) fn handle_vote_response(&mut self, from: N, response: VoteResponse) {
        if !self.configuration().is_voter(&from) {
            return; // only voters' answers count (and only they are tallied)
        }
        let RoleState::Candidate { votes } = &mut self.role else {
            return;
        };
        votes.insert(from, response.granted);
        // A candidate's own vote counts once its term and vote are durable, the moment
        // its requests leave: a win before it can only come from answers nobody asked
        // for (a hostile peer), and would lead with a vote a crash could forget.
        let own_vote = votes.get(&self.id) == Some(&true);
        match self.count_votes() {
            VoteResult::Won if !own_vote => {}
            VoteResult::Won => self.become_leader(),
            VoteResult::Lost => {
                let term = self.term;
                self.become_follower(term, None);
            }
            VoteResult::Pending => {}
        }
    }

    /// Counts the votes of the current (pre-)candidacy under the configuration in force.
    fn count_votes(&self) -> VoteResult {
        match &self.role {
            RoleState::PreCandidate { votes } | RoleState::Candidate { votes } => {
                joint_vote(self.configuration(), votes)
            }
            RoleState::Follower | RoleState::Leader(_) => VoteResult::Pending,
        }
    }
}

impl<N: NodeId> LeaderView<'_, N> {
    /// Whether a quorum (of both halves of a joint configuration) answered this leader
    /// since its last check-quorum round, itself included.
    fn quorum_active(&self) -> bool {
        joint_active(self.configuration, |node| {
            node == self.id || self.leader.progress(node).is_some_and(|p| p.recent_active)
        })
    }
}
