//! The leader's side of replication: proposals, AppendEntries with a bounded pipeline,
//! conflict back-off with hints (F27), heartbeats, and commit by counting (Raft §5.4.2).

use super::entry::{EntryKind, EntryMeta};
use super::error::ProposeError;
use super::io::{Action, Proposal, Timer};
use super::leader::LeaderState;
use super::message::{AppendRequest, AppendResponse, AppendResult, Message};
use super::progress::ProgressState;
use super::quorum::joint_index;
use super::raft::RaftCore;
use super::types::{LogId, LogIndex, NodeId};

impl<N: NodeId> RaftCore<N> {
    pub(crate) fn handle_propose(&mut self, proposals: Vec<Proposal>) {
        if !self.is_leader() {
            for proposal in proposals {
                let error = ProposeError::NotLeader {
                    leader_hint: self.leader.clone(),
                };
                self.push(Action::ProposalRejected {
                    id: proposal.id,
                    error,
                });
            }
            return;
        }
        if self.transferring() {
            for proposal in proposals {
                self.push(Action::ProposalRejected {
                    id: proposal.id,
                    error: ProposeError::TransferInProgress,
                });
            }
            return;
        }
        let mut entries = Vec::with_capacity(proposals.len());
        // One action per proposal, plus the append and its sends.
        self.actions.reserve(proposals.len() + 4);
        let limit = self.options.max_uncommitted_bytes;
        for proposal in proposals {
            let uncommitted = self.role.leader().map_or(0, LeaderState::uncommitted_bytes);
            let size = u64::from(proposal.size_bytes);
            if uncommitted > 0 && uncommitted.saturating_add(size) > limit {
                self.push(Action::ProposalRejected {
                    id: proposal.id,
                    error: ProposeError::Overloaded,
                });
                continue;
            }
            if let Some(expected) = proposal.expected_term {
                if expected != self.term {
                    let error = ProposeError::TermMismatch {
                        expected,
                        actual: self.term,
                    };
                    self.push(Action::ProposalRejected {
                        id: proposal.id,
                        error,
                    });
                    continue;
                }
            }
            let entry = EntryMeta {
                log_id: LogId {
                    term: self.term,
                    index: self.log.last_index().next(),
                },
                kind: EntryKind::Normal,
                size_bytes: proposal.size_bytes,
            };
            self.log.push(&entry);
            if let Some(leader) = self.role.leader_mut() {
                leader.appended(size);
            }
            self.push(Action::ProposalAccepted {
                id: proposal.id,
                log_id: entry.log_id,
            });
            entries.push(entry);
        }
        if entries.is_empty() {
            return;
        }
        self.append_log(entries);
        self.broadcast_append();
    }

    pub(crate) fn broadcast_append(&mut self) {
        for peer in self.peers() {
            self.maybe_send_append(&peer, false);
        }
    }

    fn peers(&self) -> Vec<N> {
        self.role.leader().map_or_else(Vec::new, LeaderState::peers)
    }

    /// Sends AppendEntries to `peer` while its progress allows: one probe at a time, or
    /// pipelined messages up to the in-flight window.
    pub(crate) fn maybe_send_append(&mut self, peer: &N, mut send_if_empty: bool) {
        let max_messages = self.options.max_inflight_messages;
        let max_inflight_bytes = self.options.max_inflight_bytes;
        loop {
            let Some(peer_progress) = self.role.leader().and_then(|l| l.progress(peer)) else {
                return;
            };
            if peer_progress.is_paused(max_messages, max_inflight_bytes) {
                return;
            }
            let next_index = peer_progress.next_index;
            let Some(prev_log_id) = self.log.log_id_at(next_index.prev()) else {
                // The entries this follower needs were compacted into a snapshot.
                self.send_snapshot(peer);
                return;
            };
            let entries = self.log.entries_from(
                next_index,
                self.options.max_entries_per_message,
                self.options.max_bytes_per_message,
            );
            if entries.is_empty() && !send_if_empty {
                return;
            }
            let bytes: u64 = entries.iter().map(|e| u64::from(e.size_bytes)).sum();
            let last = entries
                .last()
                .map_or(prev_log_id.index, |entry| entry.log_id.index);
            let had_entries = !entries.is_empty();
            let request = AppendRequest {
                term: self.term,
                prev_log_id,
                entries,
                leader_commit: self.commit_index,
            };
            self.send(peer.clone(), Message::Append(request));
            send_if_empty = false;
            let Some(peer_progress) = self.role.leader_mut().and_then(|l| l.progress_mut(peer))
            else {
                return;
            };
            peer_progress.sent(last, bytes, had_entries);
            if !had_entries || !matches!(peer_progress.state, ProgressState::Pipeline) {
                return;
            }
        }
    }

    pub(crate) fn handle_append_response(&mut self, from: N, response: AppendResponse) {
        let last_index = self.log.last_index();
        let Some(peer_progress) = self.role.leader_mut().and_then(|l| l.progress_mut(&from)) else {
            return; // not leading, or not a member we replicate to
        };
        peer_progress.recent_active = true;
        match response.result {
            AppendResult::Success { last_matched } => {
                if last_matched > last_index {
                    return; // claims entries we never had: ignore
                }
                if peer_progress.maybe_update(last_matched) {
                    self.maybe_commit_as_leader();
                    self.on_progress(&from);
                }
                self.maybe_send_append(&from, false);
            }
            AppendResult::Conflict {
                rejected_prev,
                hint,
            } => {
                // F27: jump over the follower's whole run of entries from terms the
                // leader does not share, instead of stepping back one index at a time.
                let found = self.log.find_conflict_by_term(hint.index, hint.term);
                let probe_from = found.index.next().min(rejected_prev);
                let Some(peer_progress) =
                    self.role.leader_mut().and_then(|l| l.progress_mut(&from))
                else {
                    return;
                };
                if peer_progress.maybe_decrease_to(rejected_prev, probe_from) {
                    self.maybe_send_append(&from, false);
                }
            }
            AppendResult::StaleTerm => {}
        }
    }

    pub(crate) fn handle_heartbeat_timeout(&mut self) {
        if !self.is_leader() {
            return; // a timer that outlived our leadership
        }
        // Reads waiting for a round get one; otherwise the heartbeats carry the current
        // round again (its heartbeats or answers may have been lost).
        if !self.start_read_round() {
            self.send_heartbeats();
        }
        self.confirm_read_rounds();
        if self.is_leader() {
            self.push(Action::ResetTimer(Timer::Heartbeat));
        }
    }

    pub(crate) fn handle_heartbeat_response(&mut self, from: N, round: u64, lease_cover: u64) {
        let last_index = self.log.last_index();
        let max_messages = self.options.max_inflight_messages;
        let max_bytes = self.options.max_inflight_bytes;
        if self.role.leader().and_then(|l| l.progress(&from)).is_none() {
            return; // not leading, or not a member we replicate to
        }
        self.read_round_acked(&from, round, lease_cover);
        let Some(peer_progress) = self.role.leader_mut().and_then(|l| l.progress_mut(&from)) else {
            return;
        };
        peer_progress.recent_active = true;
        if matches!(peer_progress.state, ProgressState::Snapshot { .. }) {
            // Waiting for a snapshot's answer: send the request again (it or its answer
            // may have been lost; a follower still fetching ignores the repeat).
            self.send_snapshot(&from);
            return;
        }
        peer_progress.on_heartbeat_response(max_messages, max_bytes);
        if peer_progress.match_index < last_index {
            // Possibly lost appends: probe again (an empty append checks the follower's
            // log at next_index - 1 and turns a gap into a rejection we can act on).
            self.maybe_send_append(&from, true);
        }
    }

    /// Commits the highest index stored on a quorum, if it is from the current term
    /// (Raft §5.4.2: older entries are committed only indirectly). The leader's own log
    /// counts only up to what is durable, and the commit index never passes it.
    pub(crate) fn maybe_commit_as_leader(&mut self) {
        let Some(leader) = self.role.leader() else {
            return;
        };
        let persisted = self.log.persisted();
        let id = &self.id;
        let quorum_index = joint_index(self.configuration(), |node| {
            if node == id {
                persisted
            } else {
                leader.progress(node).map_or(LogIndex(0), |p| p.match_index)
            }
        });
        let candidate = quorum_index.min(persisted);
        if candidate > self.commit_index && self.log.term_at(candidate) == Some(self.term) {
            let committed = self.log.bytes_between(self.commit_index.next(), candidate);
            if let Some(leader) = self.role.leader_mut() {
                leader.committed(committed);
            }
            self.commit_index = candidate;
            self.commit_known = self.commit_known.max(candidate);
            self.emit_apply();
            self.reads_committed_in_term();
            self.advance_membership();
        }
    }
}
