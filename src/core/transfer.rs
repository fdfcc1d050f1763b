//! Leadership transfer (JRaft F17, etcd's transfer): the leader stops taking writes,
//! brings the target up to date, then sends it `TimeoutNow`; the target campaigns at
//! once, past pre-vote and past the voters' lease on the current leader (the vote
//! request says it is a handover). Given up after two check-quorum rounds (between one
//! and two election timeouts), after which the leader takes writes again.

use super::error::AdminError;
use super::io::Action;
use super::leader::LeaderState;
use super::message::{Message, TimeoutNow};
use super::raft::RaftCore;
use super::types::{NodeId, RequestId};
use super::view::LeaderView;

/// Check-quorum rounds a transfer may take.
const TRANSFER_ROUNDS: u8 = 2;

impl<N: NodeId> RaftCore<N> {
    /// `Input::TransferLeadership`.
    pub(crate) fn handle_transfer_leadership(&mut self, id: RequestId, to: Option<N>) {
        if let Err(error) = self.start_transfer(id, to) {
            self.push(Action::TransferDone {
                id,
                result: Err(error),
            });
        }
    }

    fn start_transfer(&mut self, id: RequestId, to: Option<N>) -> Result<(), AdminError<N>> {
        let settled = self.configuration_settled();
        let Some(mut view) = self.leader_view() else {
            return Err(AdminError::NotLeader {
                leader_hint: self.leader.clone(),
            });
        };
        match view.start_transfer(id, to, settled)? {
            // Already leads: nothing to hand over.
            None => self.push(Action::TransferDone {
                id,
                result: Ok(self.id.clone()),
            }),
            Some(target) => {
                self.maybe_send_append(&target, false);
                self.maybe_send_timeout_now();
            }
        }
        Ok(())
    }

    /// Sends `TimeoutNow` once the transfer's target holds the leader's whole log.
    pub(crate) fn maybe_send_timeout_now(&mut self) {
        if let Some((target, request)) = self.leader_view().and_then(|mut view| view.timeout_now())
        {
            self.send(target, Message::TimeoutNow(request));
        }
    }

    /// One check-quorum round passed: a transfer that has run out of rounds is given
    /// up, and the leader takes writes again.
    pub(crate) fn transfer_round(&mut self) {
        if let Some(transfer) = self
            .role
            .leader_mut()
            .and_then(LeaderState::count_transfer_round)
        {
            self.push(Action::TransferDone {
                id: transfer.id,
                result: Err(AdminError::TransferTimedOut),
            });
        }
    }

    /// `TimeoutNow` from the leader of this term: campaign at once — a voter whose log
    /// ends where the leader's did when it sent the request.
    pub(crate) fn handle_timeout_now(&mut self, from: N, request: TimeoutNow) {
        // Here the request's term equals ours (a newer one was adopted, and its sender
        // is the leader we now follow).
        if self.leader.as_ref() != Some(&from)
            || self.is_leader()
            || !self.configuration().is_voter(&self.id)
            || self.is_fenced()
            || self.log.last_log_id() != request.last_log_id
            || self.term.next() == self.term
        {
            return;
        }
        self.become_candidate(true);
    }

    /// Whether this leader refuses writes because it is handing leadership over.
    pub(crate) fn transferring(&self) -> bool {
        self.role
            .leader()
            .is_some_and(|leader| leader.transfer().is_some())
    }
}

impl<N: NodeId> LeaderView<'_, N> {
    /// Starts a transfer to `to` (any voter when `None`: the one holding the most of the
    /// log), unless one is in progress or the configuration is not `settled`: the target,
    /// or `None` when it names this leader (nothing to hand over). The lease is off for
    /// the rest of the term.
    fn start_transfer(
        &mut self,
        id: RequestId,
        to: Option<N>,
        settled: bool,
    ) -> Result<Option<N>, AdminError<N>> {
        if self.leader.transfer().is_some() {
            return Err(AdminError::TransferInProgress);
        }
        if self.leader.change().is_some() || !settled {
            return Err(AdminError::ChangeInProgress);
        }
        let target = match to {
            Some(peer) if peer == *self.id => return Ok(None),
            Some(peer) if self.configuration.current.voters().contains(&peer) => peer,
            Some(peer) => return Err(AdminError::NotAVoter { peer: Some(peer) }),
            None => {
                self.voter_holding_most()
                    .ok_or(AdminError::NotAVoter { peer: None })?
                    .1
            }
        };
        self.leader
            .begin_transfer(id, target.clone(), TRANSFER_ROUNDS);
        Ok(Some(target))
    }

    /// `TimeoutNow` for the transfer's target, once it holds this leader's whole log
    /// (recorded as sent: at most one per transfer).
    fn timeout_now(&mut self) -> Option<(N, TimeoutNow)> {
        let last_log_id = self.log.last_log_id();
        let transfer = self.leader.transfer()?;
        if transfer.timeout_now_sent {
            return None;
        }
        let target = transfer.target.clone();
        let caught_up = self
            .leader
            .progress(&target)
            .is_some_and(|progress| progress.match_index == last_log_id.index);
        if !caught_up {
            return None;
        }
        self.leader.timeout_now_sent();
        let term = self.term;
        Some((target, TimeoutNow { term, last_log_id }))
    }
}
