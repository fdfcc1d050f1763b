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
use super::view::LeaderView;

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
        let Some(mut budget) = self.leader_view().map(|view| view.proposal_budget()) else {
            return; // cannot happen: a leader (checked above)
        };
        let mut appended = 0u64;
        for proposal in proposals {
            let size = u64::from(proposal.size_bytes);
            if !budget.fits(size) {
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
            budget.count(size);
            appended = appended.saturating_add(size);
            self.push(Action::ProposalAccepted {
                id: proposal.id,
                log_id: entry.log_id,
            });
            entries.push(entry);
        }
        if let Some(leader) = self.role.leader_mut() {
            leader.appended(appended);
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
        loop {
            let Some(mut view) = self.leader_view() else {
                return;
            };
            match view.next_append(peer, send_if_empty) {
                NextAppend::Nothing => return,
                NextAppend::Snapshot => {
                    // The entries this follower needs were compacted into a snapshot.
                    self.send_snapshot(peer);
                    return;
                }
                NextAppend::Send { request, more } => {
                    self.send(peer.clone(), Message::Append(request));
                    if !more {
                        return;
                    }
                    send_if_empty = false;
                }
            }
        }
    }

    pub(crate) fn handle_append_response(&mut self, from: N, response: AppendResponse) {
        let Some(mut view) = self.leader_view() else {
            return;
        };
        match view.on_append_response(&from, response.result) {
            AppendOutcome::Ignored => {}
            AppendOutcome::Matched { advanced } => {
                if advanced {
                    self.maybe_commit_as_leader();
                    self.on_progress(&from);
                }
                self.maybe_send_append(&from, false);
            }
            AppendOutcome::Rejected { probe } => {
                if probe {
                    self.maybe_send_append(&from, false);
                }
            }
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
        if self.role.leader().and_then(|l| l.progress(&from)).is_none() {
            return; // not leading, or not a member we replicate to
        }
        self.read_round_acked(&from, round, lease_cover);
        let Some(mut view) = self.leader_view() else {
            return;
        };
        match view.on_heartbeat_response(&from) {
            HeartbeatOutcome::Nothing => {}
            HeartbeatOutcome::SnapshotAgain => {
                // Waiting for a snapshot's answer: send the request again (it or its
                // answer may have been lost; a follower still fetching ignores the repeat).
                self.send_snapshot(&from);
            }
            HeartbeatOutcome::Probe => {
                // Possibly lost appends: probe again (an empty append checks the
                // follower's log at next_index - 1 and turns a gap into a rejection we
                // can act on).
                self.maybe_send_append(&from, true);
            }
        }
    }

    /// Commits the highest index stored on a quorum, if it is from the current term
    /// (Raft §5.4.2: older entries are committed only indirectly). The leader's own log
    /// counts only up to what is durable, and the commit index never passes it.
    pub(crate) fn maybe_commit_as_leader(&mut self) {
        let Some(committed) = self.leader_view().and_then(|mut view| view.commit()) else {
            return;
        };
        self.commit_index = committed;
        self.commit_known = self.commit_known.max(committed);
        self.emit_apply();
        self.reads_committed_in_term();
        self.advance_membership();
    }
}

/// The payload bytes a leader may still take in before it refuses proposals as
/// `Overloaded` (`LeaderView::proposal_budget`, `CoreOptions::max_uncommitted_bytes`).
pub(crate) struct ProposalBudget {
    uncommitted: u64,
    limit: u64,
}

impl ProposalBudget {
    /// Whether a proposal of `size` bytes may be appended: a leader with nothing
    /// uncommitted takes any one proposal, however large (else it could never take it).
    pub(crate) fn fits(&self, size: u64) -> bool {
        self.uncommitted == 0 || self.uncommitted.saturating_add(size) <= self.limit
    }

    /// A proposal of `size` bytes was appended.
    pub(crate) fn count(&mut self, size: u64) {
        self.uncommitted = self.uncommitted.saturating_add(size);
    }
}

/// What a leader sends a peer next (`LeaderView::next_append`).
enum NextAppend<N: NodeId> {
    /// Nothing now: the peer is paused, untracked, or there is nothing to send.
    Nothing,
    /// The entries the peer needs were compacted: send the snapshot.
    Snapshot,
    /// Send `request` (already counted in the peer's progress); `more` when the window
    /// may take another message after it.
    Send {
        request: AppendRequest<N>,
        more: bool,
    },
}

/// What an answer to an append asks of the leader (`LeaderView::on_append_response`).
enum AppendOutcome {
    /// Stale, from an untracked peer, or claiming entries this leader never had.
    Ignored,
    /// The peer holds entries up to a point; `advanced` when its match index moved (the
    /// commit index may follow).
    Matched { advanced: bool },
    /// The peer's log conflicts; `probe` when its progress moved back (probe again).
    Rejected { probe: bool },
}

/// What a heartbeat's answer asks of the leader (`LeaderView::on_heartbeat_response`).
enum HeartbeatOutcome {
    /// Nothing to send.
    Nothing,
    /// The peer waits for a snapshot: send the request again.
    SnapshotAgain,
    /// The peer may have lost appends: probe.
    Probe,
}

impl<N: NodeId> LeaderView<'_, N> {
    /// What this leader may still take in: its uncommitted payload bytes against the
    /// bound.
    pub(crate) fn proposal_budget(&self) -> ProposalBudget {
        ProposalBudget {
            uncommitted: self.leader.uncommitted_bytes(),
            limit: self.options.max_uncommitted_bytes,
        }
    }

    /// The next AppendEntries for `peer` while its progress allows (an empty one only
    /// when `send_if_empty`), recorded as sent in its progress.
    fn next_append(&mut self, peer: &N, send_if_empty: bool) -> NextAppend<N> {
        let options = self.options;
        let Some(progress) = self.leader.progress_mut(peer) else {
            return NextAppend::Nothing;
        };
        if progress.is_paused(options.max_inflight_messages, options.max_inflight_bytes) {
            return NextAppend::Nothing;
        }
        let next_index = progress.next_index;
        let Some(prev_log_id) = self.log.log_id_at(next_index.prev()) else {
            return NextAppend::Snapshot;
        };
        let entries = self.log.entries_from(
            next_index,
            options.max_entries_per_message,
            options.max_bytes_per_message,
        );
        if entries.is_empty() && !send_if_empty {
            return NextAppend::Nothing;
        }
        let bytes: u64 = entries.iter().map(|e| u64::from(e.size_bytes)).sum();
        let last = entries
            .last()
            .map_or(prev_log_id.index, |entry| entry.log_id.index);
        let had_entries = !entries.is_empty();
        progress.sent(last, bytes, had_entries);
        NextAppend::Send {
            request: AppendRequest {
                term: self.term,
                prev_log_id,
                entries,
                leader_commit: self.commit_index,
            },
            more: had_entries && matches!(progress.state, ProgressState::Pipeline),
        }
    }

    /// Takes `from`'s answer to an append into its progress.
    fn on_append_response(&mut self, from: &N, result: AppendResult) -> AppendOutcome {
        let last_index = self.log.last_index();
        let log = self.log;
        let Some(progress) = self.leader.progress_mut(from) else {
            return AppendOutcome::Ignored; // not a member we replicate to
        };
        progress.recent_active = true;
        match result {
            AppendResult::Success { last_matched } => {
                if last_matched > last_index {
                    return AppendOutcome::Ignored; // claims entries we never had
                }
                AppendOutcome::Matched {
                    advanced: progress.maybe_update(last_matched),
                }
            }
            AppendResult::Conflict {
                rejected_prev,
                hint,
            } => {
                // F27: jump over the follower's whole run of entries from terms the
                // leader does not share, instead of stepping back one index at a time.
                let found = log.find_conflict_by_term(hint.index, hint.term);
                let probe_from = found.index.next().min(rejected_prev);
                AppendOutcome::Rejected {
                    probe: progress.maybe_decrease_to(rejected_prev, probe_from),
                }
            }
            AppendResult::StaleTerm => AppendOutcome::Ignored,
        }
    }

    /// Takes `from`'s answer to a heartbeat into its progress.
    fn on_heartbeat_response(&mut self, from: &N) -> HeartbeatOutcome {
        let last_index = self.log.last_index();
        let options = self.options;
        let Some(progress) = self.leader.progress_mut(from) else {
            return HeartbeatOutcome::Nothing;
        };
        progress.recent_active = true;
        if matches!(progress.state, ProgressState::Snapshot { .. }) {
            return HeartbeatOutcome::SnapshotAgain;
        }
        progress.on_heartbeat_response(options.max_inflight_messages, options.max_inflight_bytes);
        if progress.match_index < last_index {
            HeartbeatOutcome::Probe
        } else {
            HeartbeatOutcome::Nothing
        }
    }

    /// Advances the commit index to the highest index stored on a quorum, if it is of
    /// this leader's term, and returns it; the entries it commits leave the leader's
    /// uncommitted bytes.
    fn commit(&mut self) -> Option<LogIndex> {
        let persisted = self.log.persisted();
        let (id, leader) = (self.id, &*self.leader);
        let quorum_index = joint_index(self.configuration, |node| {
            if node == id {
                persisted
            } else {
                leader.progress(node).map_or(LogIndex(0), |p| p.match_index)
            }
        });
        let candidate = quorum_index.min(persisted);
        if candidate <= self.commit_index || self.log.term_at(candidate) != Some(self.term) {
            return None;
        }
        let committed = self.log.bytes_between(self.commit_index.next(), candidate);
        self.leader.committed(committed);
        Some(candidate)
    }
}
