//! The follower's side of replication: AppendEntries (Raft §5.3) and heartbeats.

use super::io::{Action, Timer};
use super::message::{
    AppendRequest, AppendResponse, AppendResult, Heartbeat, HeartbeatResponse, Message,
};
use super::raft::{RaftCore, RoleState};
use super::types::{LogIndex, NodeId};

impl<N: NodeId> RaftCore<N> {
    /// Recognises `from` as the leader of the current term (the message's term equals ours).
    /// Returns false if this node is itself the leader of this term — two leaders in
    /// one term cannot happen, so such a message is dropped.
    pub(crate) fn follow(&mut self, from: &N) -> bool {
        match self.role {
            RoleState::Leader(_) => return false,
            RoleState::PreCandidate { .. } | RoleState::Candidate { .. } => {
                let term = self.term;
                self.become_follower(term, Some(from.clone()));
            }
            RoleState::Follower => {
                if self.leader.as_ref() != Some(from) {
                    self.set_leader(Some(from.clone()));
                }
                // Voter or not: the timer is what forgets a leader that went silent.
                // A node that is no voter in its own configuration (a new server still
                // catching up to the entry that adds it) may be one in the candidates'
                // configuration, and refuses their (pre-)votes while it knows a leader:
                // without the timer it would know the failed one for ever, and a
                // cluster that needs its vote could not elect (found by the chaos suite,
                // `--max-entries-per-message 1`, 2026-12-05). It never campaigns
                // (`handle_election_timeout`). The reset also covers a node that the
                // entries of this very message make a voter: it watches the leader from
                // now on, with no second reset needed.
                self.push(Action::ResetTimer(Timer::Election));
            }
        }
        // With leases, the refusal to vote that a lease rests on lasts until the
        // election timer fires, whatever happens to the term meanwhile (a higher-term
        // answer clears `leader` but must not end the refusal: with pre-vote off, a
        // node could otherwise vote a new leader in while the old one's lease holds).
        if self.options.read_lease > 0 {
            self.vote_guard = true;
        }
        true
    }

    pub(crate) fn handle_append_request(&mut self, from: N, request: AppendRequest<N>) {
        if !self.follow(&from) {
            return;
        }
        if self
            .snapshots
            .installing
            .as_ref()
            .is_some_and(|installing| installing.writing)
        {
            // An install is being written: entries it covers must not be written after
            // it. Unanswered; the leader sends again (and waits for the install's answer
            // anyway).
            return;
        }
        let AppendRequest {
            term,
            mut prev_log_id,
            mut entries,
            leader_commit,
        } = request;
        // Entries at or below our snapshot are committed and already reflected here.
        let start = self.log.start();
        if prev_log_id.index < start.index {
            let skip = (start.index.0 - prev_log_id.index.0) as usize;
            if entries.len() < skip {
                let response = AppendResponse {
                    term,
                    result: AppendResult::Success {
                        last_matched: start.index,
                    },
                };
                self.send_after_persist(from, Message::AppendResponse(response));
                return;
            }
            prev_log_id = if skip == 0 {
                prev_log_id
            } else {
                entries[skip - 1].log_id
            };
            entries.drain(..skip);
        }
        if !self.log.matches(prev_log_id) {
            let hint = self
                .log
                .find_conflict_by_term(prev_log_id.index, prev_log_id.term);
            let response = AppendResponse {
                term,
                result: AppendResult::Conflict {
                    rejected_prev: prev_log_id.index,
                    hint,
                },
            };
            self.send(from, Message::AppendResponse(response));
            return;
        }
        let last_matched = prev_log_id.index.plus(entries.len() as u64);
        // Skip entries we already hold; the first mismatch or gap starts the new part.
        let first_new = entries
            .iter()
            .position(|entry| !self.log.matches(entry.log_id));
        if let Some(position) = first_new {
            let first_index = entries[position].log_id.index;
            if first_index <= self.log.last_index() {
                // Raft §5.3: a conflicting entry and everything after it goes. A real
                // leader never conflicts with committed entries (Leader Completeness);
                // a message that would make us drop one is not from a real leader.
                if first_index <= self.commit_known {
                    return;
                }
                self.truncate_log(first_index);
            }
            let new_entries: Vec<_> = entries.drain(position..).collect();
            for entry in &new_entries {
                self.log.push(entry);
            }
            self.append_log(new_entries);
        }
        self.learn_commit(leader_commit.min(last_matched));
        // The acknowledgement promises the entries are durable: send it after persisting.
        let response = AppendResponse {
            term,
            result: AppendResult::Success { last_matched },
        };
        self.send_after_persist(from, Message::AppendResponse(response));
    }

    pub(crate) fn handle_heartbeat(&mut self, from: N, heartbeat: Heartbeat) {
        if !self.follow(&from) {
            return;
        }
        // The leader sends min(its commit, our match): our log agrees up to there.
        self.learn_commit(heartbeat.commit.min(self.log.last_index()));
        self.forwarded_reads_heard_leader(&from);
        let response = HeartbeatResponse {
            term: self.term,
            round: heartbeat.round,
            lease_cover: self.options.read_lease,
        };
        // An answer may confirm a lease, which rests on this node refusing votes after a
        // restart (`vote_guard`, on only for a node whose durable term is not 0): an
        // answer in a term not yet durable waits for it (rare: a new term's first
        // heartbeat).
        self.send_in_durable_term(from, Message::HeartbeatResponse(response));
    }

    fn learn_commit(&mut self, commit: LogIndex) {
        if commit > self.commit_known {
            self.commit_known = commit;
        }
        self.maybe_advance_commit();
    }
}

/// Structural checks on a peer's AppendEntries: contiguous indexes after `prev_log_id`,
/// terms never decreasing, none newer than the request's term.
pub(crate) fn is_well_formed<N: NodeId>(request: &AppendRequest<N>) -> bool {
    let mut previous = request.prev_log_id;
    for entry in &request.entries {
        if entry.log_id.index != previous.index.next()
            || entry.log_id.term < previous.term
            || entry.log_id.term > request.term
        {
            return false;
        }
        previous = entry.log_id;
    }
    request.prev_log_id.term <= request.term
}
