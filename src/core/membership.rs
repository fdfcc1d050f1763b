//! Membership change (Raft §6, JRaft F14–F16): catch-up of new voters, joint consensus
//! (C_old,new then C_new), learners, and the end of a leader that is not in C_new.
//!
//! The rules, all decided here:
//!
//! - One change at a time. A leader starts one only when the configuration in force is
//!   stable and committed and it has committed an entry of its own term (so it knows
//!   every earlier configuration entry is settled; the single-server-change bug of the
//!   Raft dissertation's first edition needs exactly this guard).
//! - New voters are replicated to first, as non-voting peers (`catching_up`), and the
//!   configuration entry is appended only once each has acknowledged an append and is
//!   within `CoreOptions::catchup_margin` entries of the leader's last index. A new
//!   voter (new node or promoted learner) that does not answer for a whole
//!   check-quorum round fails the change (`AdminError::CatchUpFailed`) and nothing is
//!   appended.
//! - A change of voters always goes through the joint configuration; a change of
//!   learners alone (they never count) is appended as the new configuration at once.
//!   A configuration entry takes effect when appended (Raft §6), on every node.
//! - Whoever leads when a joint entry commits appends C_new (so a change survives a
//!   leader change); the change completes when C_new commits. A leader that is not a
//!   voter of a committed C_new steps down, first telling its most up-to-date voter to
//!   campaign at once (`TimeoutNow`).
//! - Nodes removed by an entry are still sent the log until they hold that entry (they
//!   then know they are out, and stop campaigning) or stop answering (`leaving`) — by
//!   the leader that appended it, or by a new leader that inherits it uncommitted.

use std::collections::BTreeSet;

use super::configuration::{Configuration, ConfigurationEntry, MembershipChange};
use super::entry::{EntryKind, EntryMeta};
use super::error::AdminError;
use super::io::Action;
use super::leader::ChangePhase;
use super::message::{Message, TimeoutNow};
use super::raft::RaftCore;
use super::types::{LogId, LogIndex, NodeId, RequestId};
use super::view::LeaderView;

impl<N: NodeId> RaftCore<N> {
    /// `Input::ChangeMembership`.
    pub(crate) fn handle_change_membership(&mut self, id: RequestId, change: MembershipChange<N>) {
        if let Err(error) = self.start_change(id, change) {
            self.push(Action::MembershipChanged {
                id,
                result: Err(error),
            });
        }
    }

    fn start_change(
        &mut self,
        id: RequestId,
        change: MembershipChange<N>,
    ) -> Result<(), AdminError<N>> {
        let settled = self.configuration_settled();
        let Some(mut view) = self.leader_view() else {
            return Err(AdminError::NotLeader {
                leader_hint: self.leader.clone(),
            });
        };
        match view.start_change(id, change, settled)? {
            ChangeStart::Unchanged(configuration) => self.push(Action::MembershipChanged {
                id,
                result: Ok(configuration),
            }),
            ChangeStart::CatchingUp(strangers) => {
                for peer in &strangers {
                    self.maybe_send_append(peer, true);
                }
                self.maybe_finish_catch_up();
            }
        }
        Ok(())
    }

    /// True when the configuration in force is stable and committed (or comes from the
    /// snapshot or the initial configuration).
    pub(crate) fn configuration_settled(&self) -> bool {
        let committed = self
            .log
            .last_configuration()
            .is_none_or(|(index, _)| index <= self.commit_index);
        committed && !self.configuration().is_joint()
    }

    /// Appends the configuration of the change being caught up once every new voter is
    /// close enough to the leader's log.
    pub(crate) fn maybe_finish_catch_up(&mut self) {
        let Some(entry) = self.leader_view().and_then(|view| view.caught_up_entry()) else {
            return;
        };
        let index = self.append_configuration(entry);
        if let Some(leader) = self.role.leader_mut() {
            leader.change_appended(index);
        }
    }

    /// Appends a configuration entry as leader; it is in force at once.
    fn append_configuration(&mut self, configuration: ConfigurationEntry<N>) -> LogIndex {
        let entry = EntryMeta {
            log_id: LogId {
                term: self.term,
                index: self.log.last_index().next(),
            },
            kind: EntryKind::configuration(configuration),
            size_bytes: 0,
        };
        let index = entry.log_id.index;
        self.log.push(&entry);
        self.reconcile_configuration();
        self.append_log(vec![entry]);
        self.broadcast_append();
        index
    }

    /// After the commit index moved on a leader: a committed joint configuration is
    /// followed by C_new; a committed C_new completes the change, and a leader that is
    /// not one of its voters steps down.
    pub(crate) fn advance_membership(&mut self) {
        let Some((index, configuration)) = self
            .log
            .last_configuration()
            .map(|(index, configuration)| (index, configuration.clone()))
        else {
            return;
        };
        if index > self.commit_index || !self.is_leader() {
            return;
        }
        if configuration.is_joint() {
            let next = self
                .append_configuration(ConfigurationEntry::stable(configuration.current.clone()));
            if let Some(leader) = self.role.leader_mut() {
                leader.change_moved_on(index, next);
            }
            return;
        }
        let done = self
            .role
            .leader_mut()
            .and_then(|leader| leader.complete_change(index));
        if let Some(change) = done {
            self.push(Action::MembershipChanged {
                id: change.id,
                result: Ok(configuration.current.clone()),
            });
        }
        if !configuration.current.is_voter(&self.id) {
            self.hand_over_and_step_down(index);
        }
    }

    /// A leader removed from the voters steps down, first telling the voter holding the
    /// most of its log to campaign at once (it holds C_new, committed: the campaign can
    /// win; `TimeoutNow` names the log the voter must hold, so one behind ignores it).
    fn hand_over_and_step_down(&mut self, c_new: LogIndex) {
        let successor = self.leader_view().and_then(|view| view.successor(c_new));
        if let Some((matched, successor)) = successor {
            if let Some(last_log_id) = self.log.log_id_at(matched) {
                let term = self.term;
                let request = TimeoutNow { term, last_log_id };
                self.send(successor, Message::TimeoutNow(request));
            }
        }
        let term = self.term;
        self.become_follower(term, None);
    }

    /// A member's progress moved (an append or install was acknowledged): a leaving
    /// node holding the entry that removed it is let go, a catching-up change may
    /// proceed, a transfer may hand over.
    pub(crate) fn on_progress(&mut self, peer: &N) {
        if self
            .leader_view()
            .is_some_and(|mut view| view.leaving_progressed(peer))
        {
            return;
        }
        self.maybe_finish_catch_up();
        self.maybe_send_timeout_now();
    }

    /// One check-quorum round passed on a leader (its election timer fired): leaving
    /// nodes that did not answer are let go, a new voter that did not answer for a
    /// whole round fails its change, and a transfer runs out of time.
    pub(crate) fn membership_round(&mut self) {
        let Some(mut view) = self.leader_view() else {
            return;
        };
        if let Some((id, error)) = view.membership_round() {
            self.push(Action::MembershipChanged {
                id,
                result: Err(error),
            });
        }
        self.transfer_round();
    }

    /// Leadership ends: every request in progress is answered.
    pub(crate) fn end_leadership(&mut self, new_term: bool) {
        self.fail_leader_reads();
        let Some(leader) = self.role.leader_mut() else {
            return;
        };
        let (change, transfer) = leader.end();
        if let Some(change) = change {
            // A change still catching up appended nothing; one whose entry is in the
            // log may yet be completed by the next leader.
            let error = match change.phase {
                ChangePhase::CatchingUp { .. } if self.failed => AdminError::Failed,
                ChangePhase::CatchingUp { .. } | ChangePhase::Appended { .. } => {
                    AdminError::LeadershipLost
                }
            };
            self.push(Action::MembershipChanged {
                id: change.id,
                result: Err(error),
            });
        }
        if let Some(transfer) = transfer {
            let result = if transfer.timeout_now_sent && new_term {
                Ok(transfer.target)
            } else if self.failed {
                Err(AdminError::Failed)
            } else {
                Err(AdminError::LeadershipLost)
            };
            self.push(Action::TransferDone {
                id: transfer.id,
                result,
            });
        }
    }
}

/// How a change asked of a leader starts (`LeaderView::start_change`).
enum ChangeStart<N: NodeId> {
    /// It changes nothing: answered at once with the configuration in force.
    Unchanged(Configuration<N>),
    /// These new voters (not learners already) catch up first.
    CatchingUp(BTreeSet<N>),
}

impl<N: NodeId> LeaderView<'_, N> {
    /// Takes a change in, unless one is in progress, a transfer is, or this leader may
    /// not start one yet (no entry of its term committed, or the configuration in force
    /// not `settled`).
    fn start_change(
        &mut self,
        id: RequestId,
        change: MembershipChange<N>,
        settled: bool,
    ) -> Result<ChangeStart<N>, AdminError<N>> {
        if self.leader.transfer().is_some() {
            return Err(AdminError::TransferInProgress);
        }
        if self.leader.change().is_some() {
            return Err(AdminError::ChangeInProgress);
        }
        // Until an entry of its own term commits, a new leader cannot know whether a
        // configuration entry of an earlier term is settled.
        if self.log.term_at(self.commit_index) != Some(self.term) {
            return Err(AdminError::NotReady);
        }
        if !settled {
            return Err(AdminError::ChangeInProgress);
        }
        let current = &self.configuration.current;
        let target = change
            .apply_to(current)
            .map_err(|reason| AdminError::InvalidChange { reason })?;
        if target == *current {
            return Ok(ChangeStart::Unchanged(target));
        }
        let strangers: BTreeSet<N> = target
            .voters()
            .difference(current.voters())
            .filter(|peer| !current.is_learner(peer))
            .cloned()
            .collect();
        let next_index = self.log.last_index().next();
        self.leader.start_catch_up(&strangers, next_index);
        self.leader.begin_change(id, target);
        Ok(ChangeStart::CatchingUp(strangers))
    }

    /// The first new voter of the change being caught up that is not yet within the
    /// catch-up margin of the leader's log, if any (None also when nothing is caught up).
    fn behind_in_catch_up(&self) -> Option<N> {
        let last_index = self.log.last_index();
        let margin = self.options.catchup_margin;
        let change = self.leader.change()?;
        if !matches!(change.phase, ChangePhase::CatchingUp { .. }) {
            return None;
        }
        let current = self.configuration.current.voters();
        let mut new_voters = change.target.voters().difference(current);
        new_voters
            .find(|peer| {
                self.leader.progress(peer).is_none_or(|progress| {
                    progress.match_index == LogIndex(0)
                        || progress.match_index.0.saturating_add(margin) < last_index.0
                })
            })
            .cloned()
    }

    /// The configuration entry that ends the catch-up of the change in progress (the
    /// joint one, or the target itself when the voters stay), once every new voter is
    /// close enough to the leader's log.
    fn caught_up_entry(&self) -> Option<ConfigurationEntry<N>> {
        let change = self.leader.change()?;
        if !matches!(change.phase, ChangePhase::CatchingUp { .. }) {
            return None;
        }
        if self.behind_in_catch_up().is_some() {
            return None;
        }
        let current = self.configuration.current.clone();
        let target = change.target.clone();
        Some(if target.voters() == current.voters() {
            ConfigurationEntry::stable(target)
        } else {
            ConfigurationEntry {
                current: target,
                old: Some(current),
            }
        })
    }

    /// The voter of the configuration in force holding the most of this leader's log,
    /// if it holds at least through `c_new`, and how much it holds.
    fn successor(&self, c_new: LogIndex) -> Option<(LogIndex, N)> {
        self.voter_holding_most()
            .filter(|(matched, _)| *matched >= c_new)
    }

    /// `peer`'s progress moved: a leaving peer that holds the entry that settled the
    /// configuration in force (the snapshot's boundary if the log no longer holds it) is
    /// let go. `true` when `peer` is leaving (nothing more to do for it).
    fn leaving_progressed(&mut self, peer: &N) -> bool {
        if !self.leader.leaving().contains(peer) {
            return false;
        }
        let config_index = self
            .log
            .last_configuration()
            .map_or(self.log.start().index, |(index, _)| index);
        if self
            .leader
            .progress(peer)
            .is_some_and(|p| p.match_index >= config_index)
        {
            self.leader.forget_leaving(peer);
        }
        true
    }

    /// One check-quorum round passed: leaving nodes that did not answer are let go, and
    /// the change in progress fails (returned, to be answered) when a new voter did not
    /// answer for a whole round, or still lags after the rounds allowed.
    fn membership_round(&mut self) -> Option<(RequestId, AdminError<N>)> {
        let current_voters = self.configuration.current.voters();
        let (id, max_rounds) = (self.id, self.options.catchup_max_rounds);
        let behind = self.behind_in_catch_up();
        let leader = &mut *self.leader;
        let silent: Vec<N> = leader
            .leaving()
            .iter()
            .filter(|peer| !leader.progress(peer).is_some_and(|p| p.recent_active))
            .cloned()
            .collect();
        for peer in &silent {
            leader.forget_leaving(peer);
        }
        // Every new voter, whether it catches up from nothing or is a learner promoted.
        let silent_new_voter = leader.change().and_then(|change| {
            change
                .target
                .voters()
                .iter()
                .filter(|peer| !current_voters.contains(*peer) && *peer != id)
                .find(|peer| !leader.progress(peer).is_some_and(|p| p.recent_active))
                .cloned()
        });
        let mut failed = None;
        if let Some(before) = leader.count_catch_up_round() {
            // A whole round, not the moments before the first timer firing.
            if before >= 1 {
                failed = silent_new_voter;
            }
            // Answering, but still behind after the rounds allowed.
            let rounds = before.saturating_add(1);
            if failed.is_none() && max_rounds > 0 && rounds > max_rounds {
                failed = behind;
            }
        }
        let peer = failed?;
        let change = leader.abandon_change()?;
        Some((change.id, AdminError::CatchUpFailed { peer }))
    }
}
